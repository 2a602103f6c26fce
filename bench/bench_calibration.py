"""What the calibration per kind of pair costs a query by id: the committed run's `fused` index (its
neighbour lists, as served), every catalog song asked once for k = 10, with the maps per kind (the shipped
checkpoint) and with the pooled map alone (the baseline: the answer path before 2026-12-07), alternating,
in one process; and the maps per kind with their knots rebuilt from the stored lists on every query (the
answer path before 2026-12-07's `core.calibration.Calibrator`, which builds them once at load); and the
maps per kind with each pair's kind found from the query's and the hits' ranking vectors read from the index
(the answer path before the recommender kept each song's bit mask of blocks, read once at load). Then what
that read at load costs: the masks of a flat index of ``--load-songs`` random ranking vectors shaped as the
fused model's (half of them without their second block), a chunk at a time.

    python bench/bench_calibration.py              after `dvc repro` (reads params.yaml's paths)
    python bench/bench_calibration.py --rounds 5 --load-songs 1000000"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from songsim.core.calibration import Calibrator, block_presence, pair_groups  # noqa: E402
from songsim.core.config import read_params  # noqa: E402
from songsim.serve.recommender import Recommender, index_block_masks  # noqa: E402


def kinds_from_vectors(rec: Recommender):
    """``Recommender._calibrated`` as it was before the bit masks: each pair's kind found from the query's and
    the hits' ranking vectors, the hits' read from the index on every query."""
    def calibrated(raw: np.ndarray, q: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        if not rec.by_kind or q is None:
            return rec.calibrator(raw)
        has = block_presence(np.vstack([q[None], rec.index.reconstruct_batch(rows)]), rec.blocks)  # (1 + k, B)
        return rec.calibrator(raw, pair_groups(np.repeat(has[:1], len(rows), 0), has[1:]))
    return calibrated


def one_pass(rec: Recommender, ids: list[str], by_kind: bool, per_call: bool = False,
             from_vectors: bool = False) -> float:
    """Microseconds a query over ``ids``, each asked for its 10 most similar songs (``per_call``: the maps'
    knots rebuilt on every query, as before they were built once; ``from_vectors``: the kinds found from the
    vectors, as before the masks)."""
    rec.by_kind = by_kind
    once = Calibrator(rec.calibration)
    rec.calibrator = (lambda raw, groups=None: Calibrator(rec.calibration)(raw, groups)) if per_call else once
    rec.__dict__.pop("_calibrated", None)
    if per_call or from_vectors:
        rec._calibrated = kinds_from_vectors(rec)
    t = time.perf_counter()
    for tid in ids:
        rec.similar(tid, k=10)
    return (time.perf_counter() - t) / len(ids) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--load-songs", type=int, default=1_000_000, help="songs of the index whose masks are read")
    args = ap.parse_args()
    rec = Recommender.from_params(read_params(args.params), "fused")
    if not (rec.calibration or {}).get("groups"):
        sys.exit("the fused checkpoint has no calibration per kind: run dvc repro on this code first")
    ids = [rec.ids[i] for i in range(len(rec.ids))]
    one_pass(rec, ids[:50], True)  # warm-up: page cache, first calls
    times = {"pooled": [], "by kind": [], "by kind, kinds from the vectors": [],
             "by kind, kinds from the vectors, knots per query": []}
    for _ in range(args.rounds):
        times["pooled"].append(one_pass(rec, ids, False))
        times["by kind"].append(one_pass(rec, ids, True))
        times["by kind, kinds from the vectors"].append(one_pass(rec, ids, True, from_vectors=True))
        times["by kind, kinds from the vectors, knots per query"].append(one_pass(rec, ids, True, per_call=True))
    base = statistics.median(times["pooled"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name}: median {med:.1f} us a query over {len(ids)} songs x {args.rounds} rounds "
              f"(min {min(ts):.1f}, max {max(ts):.1f}); {med / base:.2f}x the pooled map")
    load_masks(rec, args.load_songs)


def load_masks(rec: Recommender, n: int) -> None:
    """Seconds to read the bit masks of ``n`` songs from a flat index of random ranking vectors with the
    committed run's blocks (every second song without its last block), and their memory."""
    rng = np.random.default_rng(0)
    index = faiss.IndexFlatIP(sum(rec.blocks))
    for a in range(0, n, 100_000):
        v = rng.standard_normal((min(100_000, n - a), sum(rec.blocks)), dtype=np.float32)  # (chunk, D)
        v[::2, -rec.blocks[-1]:] = 0
        index.add(v)
    t = time.perf_counter()
    masks = index_block_masks(index, rec.blocks)
    s = time.perf_counter() - t
    print(f"masks at load: {n:,} songs in {s:.2f} s ({masks.nbytes / 2**20:.1f} MiB, {masks.dtype}); "
          f"{np.bincount(masks).tolist()} songs per mask")


if __name__ == "__main__":
    main()
