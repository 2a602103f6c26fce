"""The synth_world stage with 1 and with N processes writing the MSD files (``synth.workers``).

Baseline: ``write_world(..., workers=1)``, every HDF5 file written by the stage's own process (what the
stage did before ``synth.workers``). Ours: the same call with ``workers=N`` (forked processes, each
writing a slice of the songs). Each run is a child process writing a fresh directory; the runs alternate
(1, N, 1, N, ...) so a noisy spell hits both, and the best of the repeats is reported per setting.
The MSD trees of the two settings are compared file by file (SHA-256): the worker count must not change
a byte.

    python bench/bench_synth.py                     # default world (seed 7), 1 vs 2 workers, 2 repeats
    python bench/bench_synth.py --workers 2 --repeats 3 --size tiny
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, run_measured, save  # noqa: E402

CHILD = """
import json, logging, time
from songsim.core.published import DENSE
from songsim.synth.write import write_world
t = time.perf_counter()
s = write_world({out!r}, {size!r}, {seed}, lastfm_sqlite=True, mxm_sqlite=False, workers={workers}, coverage=DENSE)
print(json.dumps({{"seconds": time.perf_counter() - t, "msd_files": s["msd"]["tracks"]}}))
"""


def tree_digest(root: Path) -> str:
    """One SHA-256 over every file under ``root`` (relative path and bytes, in sorted order)."""
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def one(size: str, seed: int, workers: int, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    wall, peak, stdout = run_measured(CHILD.format(out=str(out), size=size, seed=seed, workers=workers))
    res = json.loads(stdout.strip().splitlines()[-2])
    return {"workers": workers, "stage_seconds": round(res["seconds"], 2), "process_seconds": round(wall, 2),
            "peak_rss_mib": peak, "msd_files": res["msd_files"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="default")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    base = OUT / "synth"
    runs: list[dict] = []
    digests = {}
    for r in range(args.repeats):
        for w in (1, args.workers):
            out = base / f"w{w}"
            runs.append({**one(args.size, args.seed, w, out), "repeat": r})
            digests[w] = tree_digest(out / "msd")
    best = {w: min(x["stage_seconds"] for x in runs if x["workers"] == w) for w in (1, args.workers)}
    result = {"size": args.size, "seed": args.seed, "runs": runs, "best_seconds": best,
              "speedup": round(best[1] / best[args.workers], 2),
              "msd_trees_identical": digests[1] == digests[args.workers]}
    save("synth", result)
    shutil.rmtree(base, ignore_errors=True)
    if not result["msd_trees_identical"]:
        raise SystemExit("the MSD files differ between 1 and N workers")


if __name__ == "__main__":
    main()
