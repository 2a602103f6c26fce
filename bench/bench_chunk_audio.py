"""chunk_audio vs the seed-style baseline on the same MSD files, in one run.

Baseline (what the published work did): open every file with h5py, keep the full timbre and
pitch arrays (float64) plus metadata in a list, and pickle each 1,000 songs to one file.
Ours: the chunk_audio stage (fixed T frames, float16, zstd Parquet shards), 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
import time
from pathlib import Path

import h5py

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, ensure_world, save  # noqa: E402

from songsim.core.config import ChunkAudioConfig  # noqa: E402
from songsim.ingest.audio import chunk_audio  # noqa: E402
from songsim.ingest.readers.msd import iter_msd_files  # noqa: E402


def seed_baseline(files: list[Path], out: Path) -> tuple[float, int, int]:
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    batch, n, part = [], 0, 0
    for f in files:
        with h5py.File(f, "r") as h:
            batch.append({
                "track_id": h["analysis/songs"]["track_id"][0],
                "timbre": h["analysis/segments_timbre"][:],
                "pitches": h["analysis/segments_pitches"][:],
                "start": h["analysis/segments_start"][:],
                "meta": h["metadata/songs"][:],
            })
        n += 1
        if len(batch) == 1000:
            (out / f"part{part}.pkl").write_bytes(pickle.dumps(batch))
            batch, part = [], part + 1
    if batch:
        (out / f"part{part}.pkl").write_bytes(pickle.dumps(batch))
    secs = time.perf_counter() - t
    return secs, n, sum(p.stat().st_size for p in out.glob("*.pkl"))


def compare(label: str, msd_root: Path, frames: int) -> dict:
    files = list(iter_msd_files(msd_root))
    for f in files:  # warm the page cache so both sides read from memory
        f.read_bytes()
    work = OUT / "chunk_audio"
    shutil.rmtree(work, ignore_errors=True)
    b_s, b_n, b_bytes = seed_baseline(files, work / "baseline")
    res = {"input": label, "files": len(files),
           "baseline": {"seconds": round(b_s, 2), "songs_per_s": round(b_n / b_s, 1),
                        "bytes_per_song": round(b_bytes / b_n)}}
    for workers in (1, 2):
        cfg = ChunkAudioConfig(frames=frames, crop="center", pad="zero", float16=True, rows_per_shard=2000,
                               workers=workers, max_quarantine_frac=0.0)
        t = time.perf_counter()
        rep = chunk_audio(msd_root, work / f"ours{workers}", cfg)
        s = time.perf_counter() - t
        res[f"ours_{workers}w"] = {"seconds": round(s, 2), "songs_per_s": round(rep.kept / s, 1),
                                   "bytes_per_song": round(rep.to_dict()["bytes_per_song"])}
    res["ratio_bytes_per_song"] = round(res["baseline"]["bytes_per_song"] / res["ours_1w"]["bytes_per_song"], 1)
    for w in (1, 2):
        res[f"ratio_songs_per_s_{w}w"] = round(res[f"ours_{w}w"]["songs_per_s"] / res["baseline"]["songs_per_s"], 2)
    shutil.rmtree(work, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--world", default="default", help="synthetic world preset to benchmark on")
    ap.add_argument("--real", default=str(Path(__file__).resolve().parents[2] / "shared/realdata/msd_h5_tree"),
                    help="a tree of genuine MSD files (skipped when absent)")
    ap.add_argument("--frames", type=int, default=128)
    args = ap.parse_args()
    out = {"frames": args.frames}
    if Path(args.real).is_dir():
        out["genuine"] = compare(f"genuine MSD files ({args.real})", Path(args.real), args.frames)
    out["synthetic"] = compare(f"synthetic world '{args.world}'", ensure_world(args.world) / "msd", args.frames)
    save("chunk_audio", out)


if __name__ == "__main__":
    main()
