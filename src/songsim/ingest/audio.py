"""Stage chunk_audio: the MSD tree of per-track HDF5 files -> fixed-size timbre/chroma shards (the format
of ``features.audio_shards``), with worker processes, and the song metadata table (``schemas.SONGS``)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from songsim.core import schemas
from songsim.core.config import ChunkAudioConfig, section
from songsim.core.report import StageReport
from songsim.core.writers import ParquetStreamWriter, clean_stale_temps
from songsim.ingest.audio_shards import AudioShardWriter
from songsim.ingest.listing import listed_files
from songsim.ingest.readers import BadRecord
from songsim.ingest.readers.msd import MsdSong, iter_msd_files, read_msd_file

log = logging.getLogger(__name__)


def crop_start(n: int, frames: int, crop: str) -> int:
    """First kept row of an ``n``-segment song cropped to ``frames`` rows (``n > frames``)."""
    return (n - frames) // 2 if crop == "center" else 0


def frame_window(frames: int, crop: str) -> Callable[[int], slice]:
    """The rows of an n-segment song that ``fix_frames`` keeps, so only those are read from disk."""

    def window(n: int) -> slice:
        if n <= frames:
            return slice(0, n)
        start = crop_start(n, frames, crop)
        return slice(start, start + frames)

    return window


def fix_frames(x: np.ndarray, frames: int, crop: str, pad: str) -> np.ndarray:
    """Crop (start/center) or pad (zero/repeat) an ``(N, 12)`` sequence to ``(frames, 12)``."""
    n = len(x)
    if n >= frames:
        start = crop_start(n, frames, crop)
        return x[start:start + frames]
    if pad == "repeat":
        reps = -(-frames // n)
        return np.tile(x, (reps, 1))[:frames]
    out = np.zeros((frames, x.shape[1]), dtype=x.dtype)
    out[:n] = x
    return out


def song_row(song: MsdSong, cfg: ChunkAudioConfig) -> dict:
    dtype = np.float16 if cfg.float16 else np.float32
    with np.errstate(over="ignore"):  # an overflow to inf is caught by stored_problem, with its reason
        return _song_row(song, cfg, dtype)


def _song_row(song: MsdSong, cfg: ChunkAudioConfig, dtype: type) -> dict:
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


def meta_row(song: MsdSong) -> dict:
    """The song's row of the metadata table (``schemas.SONGS``): who, what and when, for readable results."""
    return {"track_id": song.track_id, "artist_id": song.artist_id or None, "artist": song.artist_name or None,
            "title": song.title or None, "year": song.year if song.year > 0 else None}


def stored_problem(row: dict) -> str | None:
    """Why a shard row holds a value that is not finite once in its stored dtype (float16 overflows
    above 65504), or None."""
    for name in ("timbre", "chroma"):
        if not np.isfinite(row[name]).all():
            return f"{name} not finite in its stored dtype {row[name].dtype}"
    for name in ("duration", "tempo", "loudness"):
        if not np.isfinite(np.float32(row[name])):
            return f"{name} {row[name]} not finite as float32"
    return None


def audio_file_rows(args: tuple[Path, ChunkAudioConfig]) -> list[tuple[dict, dict] | BadRecord]:
    """One MSD file's songs as (shard row, metadata row) pairs, or the BadRecords naming why not: every guard
    of the stage (unsafe links and storage, oversized chunks, non-finite features), never an exception.
    Used by chunk_audio and by queries that bring their own `.h5` file."""
    path, cfg = args
    if not path.exists():  # listed by list_msd, then removed before this stage read it
        return [BadRecord("missing_file", str(path), "no such file: removed since the tree was listed?")]
    try:
        out: list[tuple[dict, dict] | BadRecord] = []
        for rec in read_msd_file(path, window=frame_window(cfg.frames, cfg.crop), details=False, meta=True):
            if isinstance(rec, BadRecord):
                out.append(rec)
                continue
            row = song_row(rec, cfg)
            why = stored_problem(row)
            if why:
                out.append(BadRecord("nonfinite_features", rec.where, why))
            else:
                out.append((row, meta_row(rec)))
        return out
    except Exception as e:  # noqa: BLE001 - one bad file must not end the stage
        return [BadRecord("unexpected_error", str(path), f"{type(e).__name__}: {e}"[:300])]


def _process_files(batch: tuple[tuple[Path, ChunkAudioConfig], ...]) -> list[list[tuple[dict, dict] | BadRecord]]:
    return [audio_file_rows(args) for args in batch]


def bounded_map(pool: ProcessPoolExecutor, jobs, batch: int = 8, window: int = 64) -> Iterator[list]:
    """``audio_file_rows`` over ``jobs`` on ``pool``, results in order, ``batch`` files per task and at most
    ``window`` tasks in flight: ``Executor.map`` would submit every file at once (one pending task each)."""
    pending: deque = deque()
    jobs = iter(jobs)
    while b := tuple(islice(jobs, batch)):
        pending.append(pool.submit(_process_files, b))
        if len(pending) >= window:
            yield from pending.popleft().result()
    while pending:
        yield from pending.popleft().result()


def chunk_audio(msd_root: str | Path, out_dir: str | Path, cfg: ChunkAudioConfig,
                songs_path: str | Path | None = None, listing: str | Path | None = None) -> StageReport:
    """MSD HDF5 tree -> ``part-NNNNN.parquet`` shards of fixed-size timbre/chroma + a manifest, and (when
    ``songs_path`` is given) the song metadata table: track id, artist id and name, title, year. The files
    read are those of ``listing`` (the ``list_msd`` stage's output, streamed) when given, else the tree's."""
    report = StageReport("chunk_audio", unit="songs")
    if listing is not None:
        n_files, files = listed_files(listing, msd_root)
    else:
        tree = list(iter_msd_files(msd_root))
        n_files, files = len(tree), iter(tree)
    if not n_files:
        raise FileNotFoundError(f"{msd_root}: no .h5 files found")
    clean_stale_temps(out_dir)
    writer = AudioShardWriter(out_dir, cfg.frames, cfg.float16, cfg.rows_per_shard)
    songs = ParquetStreamWriter(songs_path, schemas.SONGS) if songs_path is not None else None
    meta: list[dict] = []
    seen: set[str] = set()
    jobs = ((f, cfg) for f in files)
    if cfg.workers > 1:
        # an executor notices a worker that dies (the OOM killer, kill -9): BrokenProcessPool, not a hang
        pool = ProcessPoolExecutor(cfg.workers, mp_context=get_context("fork"))  # no h5py handle open here
        results = bounded_map(pool, jobs, window=16 * cfg.workers)
    else:
        pool = None
        results = map(audio_file_rows, jobs)
    try:
        for recs in tqdm(results, total=n_files, desc="chunk_audio", unit="file", mininterval=2):
            for rec in recs:
                if isinstance(rec, BadRecord):
                    report.quarantine(rec.reason, str(rec))
                elif rec[0]["track_id"] in seen:
                    report.quarantine("duplicate_track_id", rec[0]["track_id"])
                else:
                    seen.add(rec[0]["track_id"])
                    writer.add(rec[0])
                    meta.append(rec[1])
                    report.keep()
            if songs is not None and len(meta) >= cfg.rows_per_shard:
                songs.write({k: [r[k] for r in meta] for k in schemas.SONGS.names})
                meta.clear()
        if songs is not None:
            songs.write({k: [r[k] for r in meta] for k in schemas.SONGS.names})
    except BrokenProcessPool as e:
        if songs is not None:
            songs.close(ok=False)
        raise RuntimeError(f"chunk_audio: a worker process died (killed, or out of memory?) while reading "
                           f"{msd_root}; the shards under {out_dir} are incomplete. Lower chunk_audio.workers "
                           f"or free memory and re-run.") from e
    except BaseException:
        if songs is not None:
            songs.close(ok=False)
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    manifest = writer.close()
    if songs is not None:
        songs.close()
    report.extra.update({
        "files": n_files,
        "shards": len(manifest["shards"]),
        "bytes": manifest["bytes"],
        "bytes_per_song": round(manifest["bytes"] / max(1, report.kept), 1),
    })
    report.check(cfg.max_quarantine_frac)
    return report


def run(params: dict) -> dict:
    """The DVC stage: the files of ``paths.msd_listing`` under ``raw.msd`` -> shards under ``paths.audio`` +
    its report."""
    paths, raw = section(params, "paths"), section(params, "raw")
    rep = chunk_audio(raw.msd, paths.audio, section(params, "chunk_audio"), paths.songs, paths.msd_listing)
    return rep.write(paths.report("chunk_audio"))
