""""Songs like X": an approximate-nearest-neighbour index over the model's ranking space, and its stage
(the :class:`~songsim.serve.recommender.Recommender` serves it).

A model ranks the catalog by one function everywhere (evaluation, index, ``songsim similar``): the inner
product of two songs' ranking vectors, i.e. the weighted mean of the per-modality cosines of their song
vectors (``PairModel.rank_space``; the weights are learned with the listwise loss and written to the
embed manifest). The index is an HNSW over exactly those ranking vectors, so the served top-k is the
model's own top-k (up to HNSW's recall, measured in the evaluation and in ``bench/bench_retrieval.py``).
The score shown is calibrated: a strictly increasing map through an isotonic fit on validation pairs
(made at the end of training, stored in the checkpoint and carried to the index manifest), from the
ranking score to the expected Last.fm score; one map per kind of pair (the vector blocks both songs
have, ``core.calibration.pair_groups``) where the validation pairs of that kind suffice.

faiss (``faiss-cpu``, MIT, maintained by Meta, regular releases) was chosen over hnswlib (last release
2023) and annoy: it serves HNSW and exact indexes behind one API and writes indexes to one file.

Index folder (stage ``index@<model>``): ``index.faiss`` (HNSW over the ranking vectors),
``vectors.npy`` (the raw song vectors; memory-mapped, not read per query: the ranking vectors of a query
and its candidates are the ones the index holds), ``ids.parquet`` (row -> track id), ``manifest.json``
(vector blocks, ranking weights, calibration: what serving needs, so serving a catalog song needs no
torch), and every song's answer computed once (``neighbours.npy``, ``neighbour_scores.npy``: its
``retrieval.candidates`` candidates, best first, with their ranking scores; memory-mapped), so a query by
id is a look-up.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from songsim.core.config import ConfigError, RetrievalConfig, section
from songsim.core.writers import atomic_path, write_json, write_table
from songsim.models import registry

log = logging.getLogger(__name__)

INDEX, VECTORS, IDS, MANIFEST = "index.faiss", "vectors.npy", "ids.parquet", "manifest.json"
NEIGHBOURS, NEIGHBOUR_SCORES = "neighbours.npy", "neighbour_scores.npy"


def ranking_space(vecs: np.ndarray, blocks: list[int], weights: list[float] | None = None) -> np.ndarray:
    """``(N, D)`` song vectors -> ``(N, D)`` float32 ranking vectors: each part (``blocks`` widths) unit
    normalised and scaled by the square root of its weight, so an inner product is ``sum_m w_m cos_m``.
    The numpy twin of ``PairModel.rank_space``; ``weights`` None = equal weights."""
    weights = weights if weights is not None else [1.0 / len(blocks)] * len(blocks)
    if len(weights) != len(blocks):
        raise ValueError(f"{len(weights)} ranking weights for {len(blocks)} vector blocks")
    out = np.empty(vecs.shape, dtype=np.float32)
    start = 0
    for w, width in zip(weights, blocks):
        part = vecs[:, start:start + width].astype(np.float32)
        out[:, start:start + width] = part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-6) \
            * np.float32(np.sqrt(w))
        start += width
    if start != vecs.shape[1]:
        raise ValueError(f"vector blocks {blocks} do not add up to the vector width {vecs.shape[1]}")
    return out


def build_index(space: np.ndarray, cfg: RetrievalConfig) -> faiss.Index:
    """HNSW (inner product) over candidate-space rows, built with ``cfg.build_threads`` threads."""
    index = faiss.IndexHNSWFlat(space.shape[1], cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = cfg.ef_construction
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(cfg.build_threads)
    try:
        index.add(np.ascontiguousarray(space, dtype=np.float32))
    finally:
        faiss.omp_set_num_threads(threads)
    index.hnsw.efSearch = cfg.ef_search
    return index


def ann_search(index: faiss.Index, queries: np.ndarray, k: int, ef_search: int) -> np.ndarray:
    """Row ids ``(Q, k)`` of the approximate nearest rows (-1 where fewer exist). ``ef_search`` goes with the
    call (not set on the shared index), so threads may search one index at once."""
    params = faiss.SearchParametersHNSW(efSearch=max(ef_search, k))
    _, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)
    return ids


def neighbour_lists(index: faiss.Index, cfg: RetrievalConfig, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Every song's answer, computed once: ``(N, C)`` int32 rows of its ``C`` = min(N - 1,
    ``cfg.candidates``) candidates, best first, and ``(N, C)`` float32 ranking scores (row -1 and NaN where
    fewer exist). Exactly what a query by id computes (the HNSW's ``C + 1`` nearest under ``ef_search``,
    itself left out, ordered by the exact ranking score, ties to the lower row), so serving a catalog song
    is a look-up. Queries in batches (faiss searches a batch on every thread it has)."""
    n = index.ntotal
    c = max(0, min(n - 1, cfg.candidates))
    rows = np.full((n, c), -1, dtype=np.int32)
    scores = np.full((n, c), np.nan, dtype=np.float32)
    for start in range(0, n, batch):
        q_rows = np.arange(start, min(n, start + batch), dtype=np.int64)
        q = index.reconstruct_batch(q_rows)  # (B, D) the queries' ranking vectors, as indexed
        found = ann_search(index, q, c + 1, cfg.ef_search)  # (B, C + 1)
        found = np.where((found < 0) | (found == q_rows[:, None]), np.iinfo(np.int64).max, found)
        found = np.sort(found, axis=1)[:, :c]  # ascending rows, the query and the missing at the end
        valid = found != np.iinfo(np.int64).max
        cand = index.reconstruct_batch(np.where(valid, found, 0).ravel()).reshape(len(q), c, -1)  # (B, C, D)
        raw = np.where(valid, np.einsum("bcd,bd->bc", cand, q), -np.inf)
        order = np.argsort(-raw, axis=1, kind="stable")  # by score, ties to the lower row
        best = np.take_along_axis(found, order, 1)
        ok = np.take_along_axis(valid, order, 1)
        rows[q_rows] = np.where(ok, best, -1)
        scores[q_rows] = np.where(ok, np.take_along_axis(raw, order, 1), np.nan)
    return rows, scores


def write_index(out_dir: str | Path, embeddings_dir: str | Path, cfg: RetrievalConfig) -> dict:
    """Stage body of ``index@<model>``: read the embed shards, build and write the index folder."""
    emb = Path(embeddings_dir)
    manifest = read_manifest(emb)
    table = pa.concat_tables([pq.read_table(emb / s["file"]) for s in manifest["shards"]])
    ids = table.column("track_id")
    vecs = table.column("vector").combine_chunks().values.to_numpy().reshape(len(table), manifest["dim"])
    index = build_index(ranking_space(vecs, manifest["blocks"], manifest.get("rank_weights")), cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / INDEX) as tmp:
        faiss.write_index(index, str(tmp))
    with atomic_path(out / VECTORS) as tmp, open(tmp, "wb") as fh:
        np.save(fh, vecs.astype(np.float32))
    write_table(pa.table({"track_id": ids}), out / IDS)
    rows, scores = neighbour_lists(index, cfg)
    for name, arr in ((NEIGHBOURS, rows), (NEIGHBOUR_SCORES, scores)):
        with atomic_path(out / name) as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr)
    info = {"model": manifest["model"], "checkpoint_sha256": manifest["checkpoint_sha256"], "songs": len(table),
            "dim": manifest["dim"], "blocks": manifest["blocks"], "rank_weights": manifest.get("rank_weights"),
            "calibration": manifest.get("calibration"),
            "index": "HNSW (inner product over the ranking space)",
            "hnsw_m": cfg.hnsw_m, "ef_construction": cfg.ef_construction, "ef_search": cfg.ef_search,
            "neighbours": int(rows.shape[1])}
    write_json(out / MANIFEST, info)
    return info


def known_model(name: str) -> None:
    """A :class:`ConfigError` naming the known models unless ``name`` is one (``core.checkpoint.model_spec``
    says the same, with torch imported)."""
    try:
        registry.get(str(name))
    except KeyError as e:
        raise ConfigError(f"--model: {e.args[0]}") from None


def read_manifest(folder: str | Path) -> dict:
    """The ``manifest.json`` of an embeddings or index folder."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{folder}: no {MANIFEST} (run the embed / index stage first)")
    return json.loads(path.read_text())


def run(params: dict, model: str) -> dict:
    """The DVC stage ``index@<model>``: the model's catalog vectors -> its index folder."""
    known_model(model)
    paths = section(params, "paths")
    files = paths.model_files(model)
    return write_index(files["index"], files["embeddings"], section(params, "retrieval"))
