"""What the calibration per kind of pair costs a query by id: the committed run's `fused` index (its
neighbour lists, as served), every catalog song asked once for k = 10, with the maps per kind (the shipped
checkpoint) and with the pooled map alone (the baseline: the answer path before 2026-12-07), alternating,
in one process; and the maps per kind with their knots rebuilt from the stored lists on every query (the
answer path before 2026-12-07's `core.calibration.Calibrator`, which builds them once at load).

    python bench/bench_calibration.py              after `dvc repro` (reads params.yaml's paths)
    python bench/bench_calibration.py --rounds 5

A query by id then also reads the query's and the hits' ranking vectors from the index, to find each
pair's kind (:meth:`Recommender._calibrated`)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songsim.core.calibration import Calibrator  # noqa: E402
from songsim.core.config import read_params  # noqa: E402
from songsim.serve.recommender import Recommender  # noqa: E402


def one_pass(rec: Recommender, ids: list[str], by_kind: bool, per_call: bool = False) -> float:
    """Microseconds a query over ``ids``, each asked for its 10 most similar songs (``per_call``: the maps'
    knots rebuilt on every query, as before they were built once)."""
    rec.by_kind = by_kind
    once = Calibrator(rec.calibration)
    rec.calibrator = (lambda raw, groups=None: Calibrator(rec.calibration)(raw, groups)) if per_call else once
    t = time.perf_counter()
    for tid in ids:
        rec.similar(tid, k=10)
    return (time.perf_counter() - t) / len(ids) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rec = Recommender.from_params(read_params(args.params), "fused")
    if not (rec.calibration or {}).get("groups"):
        sys.exit("the fused checkpoint has no calibration per kind: run dvc repro on this code first")
    ids = [rec.ids[i] for i in range(len(rec.ids))]
    one_pass(rec, ids[:50], True)  # warm-up: page cache, first calls
    times = {"pooled": [], "by kind": [], "by kind, knots per query": []}
    for _ in range(args.rounds):
        times["pooled"].append(one_pass(rec, ids, False))
        times["by kind"].append(one_pass(rec, ids, True))
        times["by kind, knots per query"].append(one_pass(rec, ids, True, per_call=True))
    base = statistics.median(times["pooled"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name}: median {med:.1f} us a query over {len(ids)} songs x {args.rounds} rounds "
              f"(min {min(ts):.1f}, max {max(ts):.1f}); {med / base:.2f}x the pooled map")


if __name__ == "__main__":
    main()
