"""Stage extract_pairs: Last.fm similars (JSON trees, zips or ``lastfm_similars.db``) -> one deduplicated
pairs table (``src, tgt, score, origin``), streamed with out-of-core deduplication."""

from __future__ import annotations

import logging
import shutil
import tempfile
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
from tqdm import tqdm

from songsim.core import schemas
from songsim.core.config import ExtractPairsConfig, section
from songsim.core.report import StageReport
from songsim.core.writers import ParquetStreamWriter, clean_stale_temps
from songsim.ingest.readers import BadRecord
from songsim.ingest.readers.lastfm import check_pair, open_lastfm
from songsim.ingest.readers.zipstream import ZipLimits

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
    reader = open_lastfm(lastfm, ZipLimits(cfg.max_member_bytes, cfg.max_member_ratio))
    n_buckets = pair_buckets(sum(p.stat().st_size for p in reader.sources()))
    skipped = reader.unrecognised()
    for reason, group in (("skipped_sqlite_variant", [p for p in skipped if p.suffix.lower() == ".db"]),
                          ("skipped_unrecognised", [p for p in skipped if p.suffix.lower() != ".db"])):
        if group:  # a .db beside the zips is the same data: it is read when raw.lastfm points at it
            files.drop(reason, len(group))
            files.examples[reason] = [str(p) for p in group[:5]]
            log.info("extract_pairs: %d files skipped (%s), e.g. %s", len(group), reason, group[0])
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(Path(out_path).parent)
    tmpdir = Path(tempfile.mkdtemp(prefix=".pairs-buckets-", dir=Path(out_path).parent))
    try:
        buf: dict[str, list] = {"bucket": [], "src": [], "tgt": [], "score": [], "origin": []}
        for rec in tqdm(reader, desc="extract_pairs", unit="track", mininterval=2):
            if isinstance(rec, BadRecord):
                files.quarantine(rec.reason, str(rec))
                continue
            files.keep()
            for k, item in enumerate(rec.similars):
                try:
                    got = check_pair(rec.track_id, item, rec.text_scores)
                except Exception as e:  # noqa: BLE001 - one bad pair must not end the stage
                    report.quarantine("unexpected_error", f"{rec.where} similars[{k}]: {type(e).__name__}")
                    continue
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
            report.extra["files"] = files.counts()
            report.extra["tracks_with_similars_file"] = files.kept
            report.extra["dedup_buckets"] = n_buckets
            report.check(cfg.max_quarantine_frac)  # inside the writer: a failing run leaves no output
            files.check(cfg.max_quarantine_frac)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return report


def run(params: dict) -> dict:
    """The DVC stage: ``raw.lastfm`` -> ``paths.pairs`` + its report."""
    paths, raw = section(params, "paths"), section(params, "raw")
    return extract_pairs(raw.lastfm, paths.pairs, section(params, "extract_pairs")).write(paths.report("extract_pairs"))
