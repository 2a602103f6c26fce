"""The `medium` world with the published coverage: is it large enough, and what does writing it cost?

For each world seed: the synth_world stage's own call (``write_world`` with ``synth.workers: 2`` and the
Last.fm SQLite twin, the published coverage) in a child process (wall time, its peak RSS, the bytes
written), then ``extract_pairs`` and the test catalog as ``build_splits`` makes it in track mode (the split
of a track is a seeded hash of its id, ``learn.splits.track_assignment``, ratios 0.64 / 0.16 / 0.20,
seed 0): per set of songs (with audio; with lyrics and audio), the songs of the Last.fm pairs, those in the
test split, those with a listed similar also in the test split (what the ranking ranks and queries), and
those with a similar scored >= 0.5 in the test split (``evaluate.relevant_score``: the queries of today's
ranking evaluation). The bar (issue 33): at least 3,000 test songs and 1,000 queries.

    python bench/bench_medium.py                  # seeds 7 and 8, 20,000 tracks (the preset)
    python bench/bench_medium.py --seeds 7 --tracks 16000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, run_measured, save  # noqa: E402

CHILD = """
import dataclasses, json, logging, time
from songsim.core.published import PUBLISHED
from songsim.synth.world import SIZES
from songsim.synth.write import write_world
t = time.perf_counter()
s = write_world({out!r}, dataclasses.replace(SIZES["medium"], n_tracks={n}), {seed}, lastfm_sqlite=True,
                mxm_sqlite=False, workers=2, coverage=PUBLISHED)
print(json.dumps({{"seconds": time.perf_counter() - t, "summary": s}}))
"""


def catalog(pairs, eligible: set[str], relevant: float = 0.5) -> dict:
    from songsim.learn.splits import track_assignment

    src, tgt, score = pairs["src"].to_list(), pairs["tgt"].to_list(), pairs["score"].to_numpy()
    keep = np.array([a in eligible and b in eligible for a, b in zip(src, tgt)], dtype=bool)
    tracks = sorted({x for x, k in zip(src, keep) if k} | {x for x, k in zip(tgt, keep) if k})
    test = {t for t, lab in zip(tracks, track_assignment(tracks, (0.64, 0.16, 0.20), 0)) if lab == 2}
    listed, rel = set(), set()
    for a, b, s, k in zip(src, tgt, score, keep):
        if k and a in test and b in test:
            listed |= {a, b}
            if s >= relevant:
                rel |= {a, b}
    return {"songs_in_pairs": len(tracks), "test_songs": len(test), "test_songs_with_listed_test_similar": len(listed),
            f"test_songs_with_test_similar_scored_{relevant}": len(rel)}


def one(seed: int, n: int) -> dict:
    import polars as pl

    from songsim.core.config import ExtractPairsConfig
    from songsim.ingest.pairs import extract_pairs

    world = OUT / "medium" / f"world_{n}_{seed}"
    shutil.rmtree(world, ignore_errors=True)
    wall, peak, stdout = run_measured(CHILD.format(out=str(world), n=n, seed=seed))
    res = json.loads(stdout.strip().splitlines()[-2])
    summary = res["summary"]
    disk = sum(f.stat().st_size for f in world.rglob("*") if f.is_file())
    t = time.perf_counter()
    cfg = ExtractPairsConfig(0.0, True, "mean", 0.0)
    extract_pairs(str(world / "lastfm"), str(world.parent / "pairs.parquet"), cfg)
    t_pairs = time.perf_counter() - t
    pairs = pl.read_parquet(world.parent / "pairs.parquet")
    audio = {f.stem for f in (world / "msd").rglob("*.h5")}
    lyrics = set()
    for f in (world / "mxm").glob("mxm_dataset_*.txt"):
        lyrics |= {line.split(",", 1)[0] for line in f.read_text().splitlines() if line.startswith("TR")}
    out = {"seed": seed, "tracks": n, "write_seconds": round(res["seconds"], 1), "write_peak_rss_mib": peak,
           "disk_gib": round(disk / 2**30, 2), "lastfm_files": summary["lastfm"]["tracks"],
           "listed_pairs_written": summary["lastfm"]["pairs"], "lyrics_tracks": summary["mxm"]["tracks"],
           "msd_files": summary["msd"]["tracks"], "extract_pairs_seconds": round(t_pairs, 1),
           "pairs": len(pairs), "audio": catalog(pairs, audio), "lyrics_and_audio": catalog(pairs, audio & lyrics)}
    shutil.rmtree(world, ignore_errors=True)  # 5 GB of MSD files per world
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 8])
    ap.add_argument("--tracks", type=int, default=None, help="tracks per world (default: the medium preset's)")
    args = ap.parse_args()
    from songsim.synth.world import SIZES

    n = args.tracks or SIZES["medium"].n_tracks
    save("medium", {"runs": [one(s, n) for s in args.seeds]})


if __name__ == "__main__":
    main()
