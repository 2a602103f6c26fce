"""The ingest stages as library functions: raw files -> clean Parquet tables, streamed.

Each function takes typed config and explicit paths, fills a :class:`StageReport`, and writes its
outputs atomically. Memory stays bounded by a batch/shard/bucket size, not by the dataset size.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterable
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm import tqdm

from songsim import schemas
from songsim.config import ChunkAudioConfig, ExpandLyricsConfig, ExtractPairsConfig
from songsim.io import BadRecord
from songsim.io.lastfm import check_pair, open_lastfm
from songsim.io.msd import MsdSong, iter_msd_files, read_msd_file
from songsim.io.mxm import MxmReader
from songsim.report import StageReport
from songsim.writers import ParquetStreamWriter, ShardWriter, write_table

log = logging.getLogger(__name__)

BATCH = 100_000  # pairs buffered in memory before they are spilled to the bucket files
BUCKET_ROWS = 100_000  # target pairs per bucket: what one dedup step holds in memory
BYTES_PER_PAIR = 20  # input bytes per pair, at least (deflated Last.fm JSON; text and SQLite are larger)
_SPILL_SCHEMA = {"src": pl.String, "tgt": pl.String, "score": pl.Float64, "origin": pl.String}


def pair_buckets(input_bytes: int) -> int:
    """Hash buckets for the dedup, sized from the input so each holds about ``BUCKET_ROWS`` pairs."""
    return int(min(4096, max(1, -(-input_bytes // (BYTES_PER_PAIR * BUCKET_ROWS)))))


def _spill(tmpdir: Path, buf: dict[str, list]) -> None:
    """Append buffered pairs to one tab-separated file per bucket (opened, appended, closed)."""
    if not buf["src"]:
        return
    b = np.asarray(buf["bucket"])
    order = np.argsort(b, kind="stable")
    t = pa.table({"src": buf["src"], "tgt": buf["tgt"], "score": pa.array(buf["score"], pa.float64()),
                  "origin": buf["origin"]}).take(pa.array(order))
    b = b[order]
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    ends = np.r_[starts[1:], len(b)]
    opts = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    for s, e in zip(starts, ends):
        with open(tmpdir / f"b{b[s]:05d}.tsv", "ab") as fh:
            pacsv.write_csv(t.slice(int(s), int(e - s)), fh, write_options=opts)
    for v in buf.values():
        v.clear()


def extract_pairs(lastfm: str | Path, out_path: str | Path, cfg: ExtractPairsConfig) -> StageReport:
    """Last.fm similars -> deduplicated pairs (``src, tgt, score, origin``), one Parquet file.

    Out-of-core deduplication: pairs are spilled in batches to per-bucket files (hash of ``src``), then
    each bucket is deduplicated on its own. The bucket count grows with the input size, so peak memory
    is one batch or one bucket, whatever the dataset size. With ``symmetric`` a pair is stored once,
    with ``src < tgt``.
    """
    report = StageReport("extract_pairs", unit="pairs")
    files = StageReport("extract_pairs.files", unit="track files")
    reader = open_lastfm(lastfm)
    n_buckets = pair_buckets(sum(p.stat().st_size for p in reader.sources()))
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".pairs-buckets-", dir=Path(out_path).parent))
    try:
        buf: dict[str, list] = {"bucket": [], "src": [], "tgt": [], "score": [], "origin": []}
        for rec in tqdm(reader, desc="extract_pairs", unit="track", mininterval=2):
            if isinstance(rec, BadRecord):
                files.quarantine(rec.reason, str(rec))
                continue
            files.keep()
            for k, item in enumerate(rec.similars):
                got = check_pair(rec.track_id, item)
                if isinstance(got, str):
                    report.quarantine(got, f"{rec.where} similars[{k}]")
                    continue
                tgt, score = got
                src = rec.track_id
                if cfg.symmetric and tgt < src:
                    src, tgt = tgt, src
                buf["bucket"].append(zlib.crc32(src.encode()) % n_buckets)
                buf["src"].append(src)
                buf["tgt"].append(tgt)
                buf["score"].append(score)
                buf["origin"].append(rec.origin)
                report.read += 1  # counted as read here; kept/dropped are resolved per bucket below
            if len(buf["src"]) >= BATCH:
                _spill(tmpdir, buf)
        _spill(tmpdir, buf)
        agg = pl.col("score").mean() if cfg.merge == "mean" else pl.col("score").max()
        with ParquetStreamWriter(out_path, schemas.PAIRS) as out:
            for k in range(n_buckets):
                path = tmpdir / f"b{k:05d}.tsv"
                if not path.exists():
                    continue
                df = pl.read_csv(path, separator="\t", has_header=False, new_columns=list(_SPILL_SCHEMA),
                                 schema=_SPILL_SCHEMA, quote_char=None)
                path.unlink()
                g = (
                    df.group_by(["src", "tgt"], maintain_order=True)
                    .agg(agg.alias("score"), pl.col("origin").unique().sort().str.join("+").alias("origin"),
                         pl.len().alias("n"))
                    .sort(["src", "tgt"])
                )
                low = g.filter(pl.col("score") < cfg.min_score)
                g = g.filter(pl.col("score") >= cfg.min_score)
                if low.height:
                    report.drops["below_min_score"] += int(low["n"].sum())
                if g.height and int(g["n"].sum()) > g.height:
                    report.drops["merged_duplicate"] += int(g["n"].sum()) - g.height
                report.kept += g.height
                out.write({"src": g["src"].to_arrow(), "tgt": g["tgt"].to_arrow(),
                           "score": g["score"].cast(pl.Float32).to_arrow(), "origin": g["origin"].to_arrow()})
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    report.extra["files"] = files.counts()
    report.extra["tracks_with_similars_file"] = files.kept
    report.extra["dedup_buckets"] = n_buckets
    report.check(cfg.max_quarantine_frac)
    files.check(cfg.max_quarantine_frac)
    return report


# --------------------------------------------------------------------------------------------------
# expand_lyrics
# --------------------------------------------------------------------------------------------------


def expand_tokens(word_ids: Iterable[int], counts: Iterable[int], max_len: int,
                  rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
    """Bag of words -> a word sequence: each word repeated ``count`` times, in vocabulary order
    (DeepPlaylist) or in a shuffled order when ``rng`` is given; truncated and 0-padded to ``max_len``."""
    seq = np.repeat(np.asarray(list(word_ids), dtype=np.int16), np.asarray(list(counts), dtype=np.int64))
    if rng is not None:
        rng.shuffle(seq)
    n = min(len(seq), max_len)
    out = np.zeros(max_len, dtype=np.int16)
    out[:n] = seq[:n]
    return out, n


def expand_lyrics(mxm: str | Path, out_path: str | Path, vocab_path: str | Path,
                  cfg: ExpandLyricsConfig) -> StageReport:
    """musiXmatch bags of words -> ``lyrics.parquet`` (padded token sequences + sparse counts)."""
    report = StageReport("expand_lyrics", unit="tracks")
    reader = MxmReader(mxm)
    if len(reader.vocab) > np.iinfo(np.int16).max:
        raise ValueError(f"{mxm}: vocabulary of {len(reader.vocab)} words does not fit int16 token ids")
    write_table(pa.table({"id": pa.array(range(1, len(reader.vocab) + 1), pa.int16()),
                          "word": reader.vocab}), vocab_path, schemas.VOCAB)
    seen: set[str] = set()
    truncated = 0
    cols: dict[str, list] = {k: [] for k in schemas.LYRICS.names}
    total_len = 0
    with ParquetStreamWriter(out_path, schemas.LYRICS) as out:
        for rec in tqdm(reader, desc="expand_lyrics", unit="track", mininterval=2):
            if isinstance(rec, BadRecord):
                report.quarantine(rec.reason, str(rec))
                continue
            if rec.track_id in seen:
                report.quarantine("duplicate_track_id", rec.where)
                continue
            if not rec.word_ids:
                report.quarantine("empty_lyrics", rec.where)
                continue
            seen.add(rec.track_id)
            rng = (np.random.default_rng([cfg.seed, zlib.crc32(rec.track_id.encode())])
                   if cfg.word_order == "shuffle" else None)
            tokens, n = expand_tokens(rec.word_ids, rec.counts, cfg.max_len, rng)
            truncated += int(sum(rec.counts) > cfg.max_len)
            total_len += n
            for k, v in (("track_id", rec.track_id), ("mxm_id", rec.mxm_id), ("split", rec.split),
                         ("tokens", tokens), ("length", n), ("word_ids", rec.word_ids), ("counts", rec.counts)):
                cols[k].append(v)
            report.keep()
            if len(cols["track_id"]) >= 10_000:
                out.write(cols)
                cols = {k: [] for k in schemas.LYRICS.names}
        out.write(cols)
    report.extra.update({
        "vocab_size": len(reader.vocab),
        "truncated_tracks": truncated,
        "mean_length": round(total_len / report.kept, 2) if report.kept else 0.0,
    })
    report.check(cfg.max_quarantine_frac)
    return report


# --------------------------------------------------------------------------------------------------
# chunk_audio
# --------------------------------------------------------------------------------------------------


def frame_window(frames: int, crop: str) -> Callable[[int], slice]:
    """The rows of an n-segment song that ``fix_frames`` keeps, so only those are read from disk."""

    def window(n: int) -> slice:
        if n <= frames:
            return slice(0, n)
        start = (n - frames) // 2 if crop == "center" else 0
        return slice(start, start + frames)

    return window


def fix_frames(x: np.ndarray, frames: int, crop: str, pad: str) -> np.ndarray:
    """Crop (start/center) or pad (zero/repeat) an ``(N, 12)`` sequence to ``(frames, 12)``."""
    n = len(x)
    if n >= frames:
        start = (n - frames) // 2 if crop == "center" else 0
        return x[start:start + frames]
    if pad == "repeat":
        reps = -(-frames // n)
        return np.tile(x, (reps, 1))[:frames]
    out = np.zeros((frames, x.shape[1]), dtype=x.dtype)
    out[:n] = x
    return out


def song_row(song: MsdSong, cfg: ChunkAudioConfig) -> dict:
    dtype = np.float16 if cfg.float16 else np.float32
    return {
        "track_id": song.track_id,
        "timbre": fix_frames(song.timbre, cfg.frames, cfg.crop, cfg.pad).astype(dtype).reshape(-1),
        "chroma": fix_frames(song.chroma, cfg.frames, cfg.crop, cfg.pad).astype(dtype).reshape(-1),
        "n_segments": song.n_segments,
        "duration": song.duration,
        "tempo": song.tempo,
        "key": song.key,
        "mode": song.mode,
        "loudness": song.loudness,
    }


def _process_file(args: tuple[Path, ChunkAudioConfig]) -> list[dict | BadRecord]:
    path, cfg = args
    out: list[dict | BadRecord] = []
    for rec in read_msd_file(path, window=frame_window(cfg.frames, cfg.crop), details=False):
        if isinstance(rec, BadRecord):
            out.append(rec)
        elif cfg.float16 and np.abs(rec.timbre).max() > 65000:
            out.append(BadRecord("float16_overflow", rec.where, "timbre beyond float16 range"))
        else:
            out.append(song_row(rec, cfg))
    return out


def chunk_audio(msd_root: str | Path, out_dir: str | Path, cfg: ChunkAudioConfig) -> StageReport:
    """MSD HDF5 tree -> ``part-NNNNN.parquet`` shards of fixed-size timbre/chroma + a manifest."""
    report = StageReport("chunk_audio", unit="songs")
    files = list(iter_msd_files(msd_root))
    if not files:
        raise FileNotFoundError(f"{msd_root}: no .h5 files found")
    writer = ShardWriter(out_dir, schemas.audio_schema(cfg.frames, cfg.float16), cfg.rows_per_shard)
    seen: set[str] = set()
    jobs = ((f, cfg) for f in files)
    if cfg.workers > 1:
        pool = get_context("fork").Pool(cfg.workers)  # no h5py handle is open in the parent
        results = pool.imap(_process_file, jobs, chunksize=8)
    else:
        pool = None
        results = map(_process_file, jobs)
    try:
        for recs in tqdm(results, total=len(files), desc="chunk_audio", unit="file", mininterval=2):
            for rec in recs:
                if isinstance(rec, BadRecord):
                    report.quarantine(rec.reason, str(rec))
                elif rec["track_id"] in seen:
                    report.quarantine("duplicate_track_id", rec["track_id"])
                else:
                    seen.add(rec["track_id"])
                    writer.add(rec)
                    report.keep()
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    manifest = writer.close()
    report.extra.update({
        "files": len(files),
        "shards": len(manifest["shards"]),
        "bytes": manifest["bytes"],
        "bytes_per_song": round(manifest["bytes"] / max(1, report.kept), 1),
    })
    report.check(cfg.max_quarantine_frac)
    return report


def read_audio(features_dir: str | Path, track_ids: Iterable[str] | None = None) -> pa.Table:
    """Load the audio shards (optionally only some tracks) as one Arrow table."""
    files = sorted(Path(features_dir).glob("part-*.parquet"))
    if not files:
        raise FileNotFoundError(f"{features_dir}: no part-*.parquet shards")
    filt = None
    if track_ids is not None:
        import pyarrow.compute as pc

        filt = pc.field("track_id").isin(pa.array(sorted(set(track_ids)), pa.string()))
    tables = [pq.read_table(f, filters=filt) for f in files]
    return pa.concat_tables(tables)
