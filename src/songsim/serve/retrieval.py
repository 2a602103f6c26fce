""""Songs like X": an approximate-nearest-neighbour index over the model's ranking space (over 250 lines:
the index, its stage and the Recommender that serves it belong together).

A model ranks the catalog by one function everywhere (evaluation, index, ``songsim similar``): the inner
product of two songs' ranking vectors, i.e. the weighted mean of the per-modality cosines of their song
vectors (``PairModel.rank_space``; the weights are learned with the listwise loss and written to the
embed manifest). The index is an HNSW over exactly those ranking vectors, so the served top-k is the
model's own top-k (up to HNSW's recall, measured in the evaluation and in ``bench/bench_retrieval.py``).
The score shown is calibrated: an isotonic map, fitted on validation pairs at the end of training and
stored in the checkpoint, from the ranking score to the expected Last.fm score.

faiss (``faiss-cpu``, MIT, maintained by Meta, regular releases) was chosen over hnswlib (last release
2023) and annoy: it serves HNSW and exact indexes behind one API and writes indexes to one file.

Index folder (stage ``index@<model>``): ``index.faiss`` (HNSW over the ranking vectors),
``vectors.npy`` (the raw song vectors; memory-mapped, not read per query: the ranking vectors of a query
and its candidates are the ones the index holds), ``ids.parquet`` (row -> track id)
and ``manifest.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from songsim.core.checkpoint import load_checkpoint, model_spec, pick_device
from songsim.core.config import RetrievalConfig, section
from songsim.core.metrics import apply_calibration
from songsim.core.writers import atomic_path, write_json, write_table
from songsim.models import MODELS
from songsim.models.nets import PairModel
from songsim.serve.tracks import TrackTable

log = logging.getLogger(__name__)

INDEX, VECTORS, IDS, MANIFEST = "index.faiss", "vectors.npy", "ids.parquet", "manifest.json"


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


@torch.no_grad()
def score_all(model: PairModel, vecs: torch.Tensor, queries: np.ndarray, cands: np.ndarray,
              batch: int = 65536) -> np.ndarray:
    """Exhaustive scores ``(Q, C)`` of query rows against candidate rows of ``vecs`` (``(S, D)``), in
    batches of ``batch`` (query, candidate) pairs built on the fly (memory: one batch, not Q x C indices)."""
    model.eval()
    n, width = len(queries) * len(cands), len(cands)
    out = torch.empty(n)
    for k in range(0, n, batch):
        flat = np.arange(k, min(k + batch, n))
        left = torch.from_numpy(queries[flat // width]).to(vecs.device)
        right = torch.from_numpy(cands[flat % width]).to(vecs.device)
        out[k:k + len(flat)] = model.score(vecs, left, right).float().cpu()
    return out.numpy().reshape(len(queries), len(cands))


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
    info = {"model": manifest["model"], "checkpoint_sha256": manifest["checkpoint_sha256"], "songs": len(table),
            "dim": manifest["dim"], "blocks": manifest["blocks"], "rank_weights": manifest.get("rank_weights"),
            "index": "HNSW (inner product over the ranking space)",
            "hnsw_m": cfg.hnsw_m, "ef_construction": cfg.ef_construction, "ef_search": cfg.ef_search}
    write_json(out / MANIFEST, info)
    return info


def read_manifest(folder: str | Path) -> dict:
    """The ``manifest.json`` of an embeddings or index folder."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{folder}: no {MANIFEST} (run the embed / index stage first)")
    return json.loads(path.read_text())


def _artist(meta: tuple) -> str | None:
    """Who a song is by, for "other artists only": its artist id, else its artist name."""
    return meta[0] or meta[1]


def read_catalog(lyrics_path: str | Path, audio_dir: str | Path) -> dict[str, set[str]]:
    """Modality -> the track ids that have it (for errors naming what a song lacks)."""
    from songsim.ingest.audio_shards import AudioShards

    return {"lyrics": set(pq.read_table(lyrics_path, columns=["track_id"]).column(0).to_pylist()),
            "audio": AudioShards(audio_dir).track_ids()}


class RetrievalError(LookupError):
    """A query that cannot be answered (unknown track, missing modality); the message says why."""


class UnknownTrack(RetrievalError):
    """No such track in the catalog; ``closest`` lists the nearest known ids by spelling."""

    def __init__(self, message: str, closest: list[str]):
        super().__init__(message)
        self.closest = closest


class MissingModality(RetrievalError):
    """The track lacks an input the model needs; ``missing`` names it, ``can_serve`` the models that can."""

    def __init__(self, message: str, missing: list[str], can_serve: list[str]):
        super().__init__(message)
        self.missing, self.can_serve = missing, can_serve


@dataclass
class Hit:
    rank: int
    track_id: str
    artist: str | None
    title: str | None
    score: float  # calibrated: the model's estimate of the Last.fm score of the pair, in [0, 1]
    rank_score: float  # the ranking function itself (weighted mean of per-modality cosines), what orders hits
    why: dict | None = None  # with explain=True: songsim.serve.explain's account of the match


class Recommender:
    """Load once, query many times::

        from songsim.core.config import read_params
        from songsim.serve.retrieval import Recommender

        rec = Recommender.from_params(read_params(params_file), "fused")  # the pipeline's params file
        for hit in rec.similar("TRAAAAW128F429D538", k=10, exclude_same_artist=True):
            print(hit.rank, hit.track_id, hit.artist, hit.title, round(hit.score, 3))
    """

    def __init__(self, index_dir: str | Path, checkpoint: str | Path, songs_path: str | Path | None,
                 candidates: int, ef_search: int, device: str = "cpu", catalog: dict[str, set[str]] | None = None,
                 explain_sources: dict | None = None):
        d = Path(index_dir)
        for f in (INDEX, VECTORS, IDS, MANIFEST):
            if not (d / f).exists():
                raise FileNotFoundError(f"{d / f} is missing: run `dvc repro index@<model>` first")
        self.manifest = read_manifest(d)
        self.name = self.manifest["model"]
        self.index = faiss.read_index(str(d / INDEX))
        # (N, D) raw song vectors, memory-mapped (not loaded whole), seen as a plain array (cheaper to index)
        self.vectors = np.asarray(np.load(d / VECTORS, mmap_mode="r"))
        self.ids = TrackTable(pq.read_table(d / IDS).column("track_id"), songs_path)  # row <-> id, metadata
        self.meta = self.ids.meta  # meta[track_id] / meta.get(...): (artist id, artist, title)
        self.device = pick_device(device)
        self.model, state = load_checkpoint(checkpoint, self.device)
        self.model.eval()
        self.blocks = self.model.vector_blocks()
        self.weights = self.manifest.get("rank_weights") or self.model.rank_weights().tolist()
        self.calibration = state.get("calibration")  # isotonic map rank score -> Last.fm score (validation)
        self.candidates, self.ef_search = candidates, ef_search
        self.catalog = catalog or {}  # modality -> track ids that have it (for clear errors)
        self.explain_sources = explain_sources  # Explainer arguments (lyrics, vocab, audio, reverse mapping)
        self._explainer = None

    @classmethod
    def from_params(cls, params: dict, model: str, device: str = "cpu", with_catalog: bool = True,
                    catalog: dict[str, set[str]] | None = None) -> Recommender:
        """The recommender of ``model`` with the pipeline's paths and ``retrieval`` settings (``catalog``:
        :func:`read_catalog`'s answer, when several recommenders share it)."""
        model_spec(model)
        paths, cfg = section(params, "paths"), section(params, "retrieval")
        files = paths.model_files(model)
        if with_catalog and catalog is None:
            catalog = read_catalog(paths.lyrics, paths.audio)
        raw = section(params, "raw")
        sources = {"lyrics_path": paths.lyrics, "vocab_path": paths.vocab, "audio_dir": paths.audio,
                   "reverse_mapping": raw.mxm_reverse_mapping or None}
        return cls(files["index"], files["ckpt"], paths.songs, cfg.candidates, cfg.ef_search, device, catalog,
                   sources)

    def _check(self, track_id: str) -> int:
        row = self.ids.row(track_id)
        if row is not None:
            return row
        spec = MODELS[self.name]
        needs = [m for m, used in (("lyrics", spec.uses_lyrics), ("audio", spec.uses_audio)) if used]
        known = [m for m in ("lyrics", "audio") if track_id in self.catalog.get(m, ())]
        if known:
            missing = [m for m in needs if m not in known]
            can = [n for n, s in MODELS.items() if s.task == "regression" and s.serves("lyrics" in known,
                                                                                          "audio" in known)]
            raise MissingModality(f"{track_id} has no {' and no '.join(missing)}: model {self.name} needs "
                                  f"{' and '.join(needs)}; models that can serve it: {', '.join(can) or 'none'}",
                                  missing, can)
        close = self.ids.closest(track_id)
        raise UnknownTrack(f"unknown track id {track_id!r}" + (f"; closest known: {', '.join(close)}" if close else ""),
                           close)

    def artist_of(self, track_id: str) -> str | None:
        m = self.meta.get(track_id)
        return _artist(m) if m else None

    def similar(self, track_id: str, k: int = 10, exclude_same_artist: bool = False,
                candidates: int | None = None, explain: bool = False) -> list[Hit]:
        """The ``k`` catalog songs the model finds most similar to ``track_id``, best first; with ``explain``,
        each hit says why (``Hit.why``: modality shares, shared words, agreeing audio facets)."""
        row = self._check(track_id)
        c = min(len(self.ids) - 1, max(k, candidates or self.candidates))
        q = self.index.reconstruct_batch(np.array([row], dtype=np.int64))  # (1, D): its ranking vector, as indexed
        ids = ann_search(self.index, q, c + 1, self.ef_search)[0]
        ids = ids[(ids >= 0) & (ids != row)].astype(np.int64)
        mine = _artist(self.ids.meta_of(row)) if exclude_same_artist else None
        if mine is not None:
            _, artist_ids, artists, _ = self.ids.take(ids)
            ids = ids[np.array([_artist(m) != mine for m in zip(artist_ids, artists)], dtype=bool)]
        if not len(ids):
            return []
        order = np.sort(ids)  # ties in the ranking score go to the lower row, as in an exhaustive ranking
        cand = self.index.reconstruct_batch(order)  # (C, D) the candidates' ranking vectors the index holds
        raw = cand @ q[0]  # (C,) the ranking score, exactly what the index approximates
        top = np.argsort(-raw, kind="stable")[:k]
        shown = apply_calibration(raw[top], self.calibration)
        tids, _, artists, titles = self.ids.take(order[top])
        out = [Hit(r, tid, artist, title, float(s), float(raw[j]))
               for r, (tid, artist, title, s, j) in enumerate(zip(tids, artists, titles, shown, top), 1)]
        if explain and out:
            self._explain(track_id, out, cand[top], q[0])
        return out

    def _explain(self, query: str, hits: list[Hit], cand: np.ndarray, q: np.ndarray) -> None:
        from songsim.serve.explain import Explainer

        if self._explainer is None:
            self._explainer = Explainer(**(self.explain_sources or {"lyrics_path": None, "vocab_path": None,
                                                                    "audio_dir": None}))
        spec = MODELS[self.name]
        modalities = [m for m, used in (("lyrics", spec.uses_lyrics), ("audio", spec.uses_audio)) if used]
        edges = np.cumsum([0, *self.blocks])
        terms = np.stack([cand[:, a:b] @ q[a:b] for a, b in zip(edges[:-1], edges[1:])], axis=1)  # (k, K * M)
        terms = terms.reshape(len(hits), -1, len(modalities)).sum(1)  # (k, M): an ensemble's K members summed
        for h, why in zip(hits, self._explainer.explain(query, [h.track_id for h in hits], terms, modalities)):
            h.why = why


def run(params: dict, model: str) -> dict:
    """The DVC stage ``index@<model>``: the model's catalog vectors -> its index folder."""
    model_spec(model)
    paths = section(params, "paths")
    files = paths.model_files(model)
    return write_index(files["index"], files["embeddings"], section(params, "retrieval"))
