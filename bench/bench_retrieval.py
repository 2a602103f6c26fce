"""Serving "songs like X" at catalog scale: an HNSW index over the ranking space vs exhaustive scoring.

The served function is the model's ranking function (inner products of ranking vectors), so the served
top-10 should be the exhaustive top-10; the question is which HNSW settings make it so, at what latency.
Generated catalogs of 100k and 1M song vectors at the demo fused model's width (its ensemble's: members x
(lyrics + audio) blocks, equal weights; a mixture of clusters,
like trained embeddings; the index bench does not need a trained model), queries = perturbed catalog
songs. For each size, in one process:
  - exhaustive baseline: numpy inner product of the query with every catalog ranking vector, top 10
    (what a flat scan costs);
  - ours: faiss HNSW top-10 in the same space, for several ``ef_search`` values.
Reports query latency p50/p99 (k = 10) for both, the served top-10's overlap with the exact top-10 per
``ef_search``, and the index build time and peak memory (child process, VmHWM). Also measures embed
throughput (songs/s) of the committed fused checkpoint on the default world, on CPU (and CUDA with
--device cuda), and, on the whole default-world catalog, `songsim similar`'s top-10 against the model's
exhaustive top-10 for several candidate counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_measured, save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def catalog(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(10, n // 100), dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for k in range(0, n, 100_000):  # bounded temporaries
        m = min(100_000, n - k)
        out[k:k + m] = centres[rng.integers(0, len(centres), m)] + 0.6 * rng.normal(size=(m, dim)).astype(np.float32)
    return out


CHILD = """
import json, time, numpy as np, faiss
from songsim.core.config import RetrievalConfig, read_params
from songsim.serve.retrieval import build_index, ranking_space, ann_search
import sys; sys.path.insert(0, {bench!r}); from bench_retrieval import catalog
n, dim, blocks, queries, threads, efs = {n}, {dim}, {blocks}, {queries}, {threads}, {efs}
params = read_params({params!r})
cfg = RetrievalConfig(**{{**params["retrieval"], "build_threads": threads}})
vecs = catalog(n, dim)
space = ranking_space(vecs, blocks)
del vecs
t = time.perf_counter(); index = build_index(space, cfg); build_s = time.perf_counter() - t
faiss.omp_set_num_threads(1)  # one query at a time, as a server thread would
rng = np.random.default_rng(1)
qrows = rng.integers(0, n, queries)
qs = (space[qrows] + 0.05 / np.sqrt(dim) * rng.normal(size=(queries, dim))).astype(np.float32)
lat_exact, exact = [], []
for i in range(queries):
    t = time.perf_counter()
    sims = space @ qs[i]
    top = np.argpartition(-sims, 10)[:10]
    exact.append(set(top[np.argsort(-sims[top])].tolist()))
    lat_exact.append(time.perf_counter() - t)
p = lambda v, q: round(float(np.percentile(np.array(v) * 1000, q)), 3)
served = []
for ef in efs:
    lat, recall = [], []
    for i in range(queries):
        t = time.perf_counter()
        got = ann_search(index, qs[i:i + 1], 10, ef)[0]
        lat.append(time.perf_counter() - t)
        recall.append(len(set(got.tolist()) & exact[i]) / 10)
    served.append({{"ef_search": ef, "p50_ms": p(lat, 50), "p99_ms": p(lat, 99),
                    "served_vs_exhaustive@10": round(float(np.mean(recall)), 4)}})
print(json.dumps({{"n": n, "dim": dim, "build_s": round(build_s, 1), "build_threads": threads, "hnsw_m": cfg.hnsw_m,
                  "ef_construction": cfg.ef_construction, "exhaustive_p50_ms": p(lat_exact, 50),
                  "exhaustive_p99_ms": p(lat_exact, 99), "served": served, "queries": queries}}))
"""


def embed_throughput(device: str, reps: int = 5) -> dict:
    from songsim.core.checkpoint import load_checkpoint, model_spec, pick_device
    from songsim.core.config import read_params, section
    from songsim.core.report import StageReport
    from songsim.learn.data import SongTable
    from songsim.learn.inference import encode_songs
    from songsim.serve.embed import catalog_batches

    params = read_params(ROOT / "params.yaml")
    paths = section(params, "paths")
    dev = pick_device(device)
    model, _ = load_checkpoint(ROOT / paths.models / "fused.pt", dev)
    spec = model_spec("fused")
    batches: list[SongTable] = list(catalog_batches(spec, ROOT / paths.lyrics, ROOT / paths.audio, 512,
                                                    StageReport("bench"), spec.bag_words(model.cfg)))
    import torch

    n = sum(len(b) for b in batches)

    def one_pass() -> float:
        t = time.perf_counter()
        for b in batches:
            encode_songs(model, b, np.arange(len(b)), 512, dev, amp=dev.type == "cuda")
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    first = one_pass()  # includes CUDA context, kernel selection and allocator warm-up
    secs = sorted(one_pass() for _ in range(reps))
    name = torch.cuda.get_device_name() if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    return {"device": name, "songs": n, "first_pass_songs_per_s": round(n / first, 1),
            "songs_per_s": round(n / secs[len(secs) // 2], 1), "passes": reps}


def catalog_served_recall(model: str = "fused", queries: int = 200,
                          cands: tuple[int, ...] = (10, 20, 50, 100)) -> dict:
    """`songsim similar`'s top-10 (``cands`` index neighbours, ordered by the ranking function) against
    the model's exhaustive top-10 by the same function over every other catalog song, on the whole
    default-world catalog of the committed run."""
    from songsim.core.config import read_params
    from songsim.serve.recommender import Recommender
    from songsim.serve.retrieval import ranking_space

    rec = Recommender.from_params(read_params(ROOT / "params.yaml"), model, with_catalog=False)
    space = ranking_space(np.asarray(rec.vectors, dtype=np.float32), rec.blocks, rec.weights)
    rng = np.random.default_rng(0)
    rows = rng.choice(len(rec.ids), size=min(queries, len(rec.ids)), replace=False)
    out = {str(c): [] for c in cands}
    for r in rows:
        sims = space @ space[r]
        sims[r] = -np.inf
        ref = {rec.ids[j] for j in np.argsort(-sims, kind="stable")[:10]}
        for c in cands:
            got = {h.track_id for h in rec.similar(rec.ids[r], k=10, candidates=c)}
            out[str(c)].append(len(got & ref) / 10)
    return {"model": model, "catalog": len(rec.ids), "queries": len(rows), "ef_search": rec.ef_search,
            "served_vs_exhaustive_recall@10": {c: round(float(np.mean(v)), 4) for c, v in out.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2, help="faiss threads while building")
    ap.add_argument("--device", default="cpu", help="device for the embed throughput")
    ap.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128, 256], help="ef_search values served")
    args = ap.parse_args()
    import torch

    from songsim.core.config import read_params
    from songsim.models import MODELS
    from songsim.models.nets import build_model

    params = read_params(ROOT / "params.yaml")
    from songsim.core.config import model_section

    sec = model_section(params, "fused", MODELS["fused"].config)
    blocks = build_model("fused", sec.model, 10, sec.optim.members).vector_blocks()  # an ensemble: K x 2 blocks
    res: dict = {"torch_threads": torch.get_num_threads(), "blocks": blocks, "sizes": []}
    for n in args.sizes:
        code = CHILD.format(n=n, dim=sum(blocks), blocks=blocks, queries=args.queries, threads=args.threads,
                            efs=args.ef, params=str(ROOT / "params.yaml"), bench=str(Path(__file__).resolve().parent))
        secs, rss, out = run_measured(code)
        row = json.loads(out.strip().splitlines()[-2])
        row.update({"peak_rss_mib": rss, "wall_s": round(secs, 1)})
        res["sizes"].append(row)
        print(row, file=sys.stderr)
    res["embed"] = embed_throughput(args.device)
    res["catalog_served"] = [catalog_served_recall(m) for m in ("lyrics_regressor", "audio_siamese", "fused")]
    save(f"retrieval_{args.device}", res)


if __name__ == "__main__":
    main()
