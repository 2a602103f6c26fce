"""Serving "songs like X" from a model's index folder: the :class:`Recommender` (``songsim similar``,
``songsim serve``), for a catalog song by id (the index alone: no torch) or for a song given by its
content (``serve.content``: the model encodes it), with explanations (``serve.explain``) on request
(over 250 lines: both ways of asking share one ranking, its errors and its explanations).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pyarrow.parquet as pq

from songsim.core.calibration import Calibrator, block_masks
from songsim.core.config import section
from songsim.models import MODELS
from songsim.serve.retrieval import (
    IDS,
    INDEX,
    MANIFEST,
    NEIGHBOUR_SCORES,
    NEIGHBOURS,
    VECTORS,
    ann_search,
    known_model,
    ranking_space,
    read_manifest,
)
from songsim.serve.tracks import TrackTable

log = logging.getLogger(__name__)


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


def index_block_masks(index: faiss.Index, blocks: list[int], chunk: int = 65536) -> np.ndarray:
    """``(N,)`` each indexed song's blocks as a bit mask (``core.calibration.block_masks``), its ranking vectors
    read from ``index`` ``chunk`` rows at a time (memory bounded by the chunk)."""
    n = index.ntotal
    parts = [block_masks(index.reconstruct_batch(np.arange(a, min(a + chunk, n))), blocks)
             for a in range(0, n, chunk)]  # each (chunk,)
    return np.concatenate(parts) if parts else block_masks(np.zeros((0, sum(blocks))), blocks)


def shown_decimals(hits: list[Hit], least: int = 4, most: int = 12) -> int:
    """Decimals to show an answer's scores with: the fewest from ``least`` on at which no two hits whose
    ranking scores differ show the same score or the same ranking score (the calibrated score is strictly
    increasing in the ranking score, so some precision separates them; ``most`` caps it)."""
    for d in range(least, most):
        if all(round(a.score, d) != round(b.score, d) and round(a.rank_score, d) != round(b.rank_score, d)
               for a, b in zip(hits, hits[1:]) if a.rank_score != b.rank_score):
            return d
    return most


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
        self.index_dir = d
        self.name = self.manifest["model"]
        self.index = faiss.read_index(str(d / INDEX))
        # (N, D) raw song vectors, memory-mapped (not loaded whole), seen as a plain array (cheaper to index)
        self.vectors = np.asarray(np.load(d / VECTORS, mmap_mode="r"))
        self.ids = TrackTable(pq.read_table(d / IDS).column("track_id"), songs_path)  # row <-> id, metadata
        self.meta = self.ids.meta  # meta[track_id] / meta.get(...): (artist id, artist, title)
        self.checkpoint, self.device_name = Path(checkpoint), device
        self._model = None  # loaded (with torch) only to encode songs given by their content
        self._model_lock = threading.Lock()
        self.blocks = self.manifest["blocks"]  # the ranking space, as the embed stage wrote it: no torch
        self.weights = self.manifest.get("rank_weights") or [1.0 / len(self.blocks)] * len(self.blocks)
        self.calibration = self.manifest.get("calibration")  # isotonic fit rank score -> Last.fm score (validation)
        self.by_kind = bool((self.calibration or {}).get("groups"))  # a map per kind of pair (blocks both have)
        self.calibrator = Calibrator(self.calibration)  # its knots computed once, not on every query
        # each song's blocks (N,) as a bit mask, read from the index once: a hit's kind of pair is a look-up
        self.masks = index_block_masks(self.index, self.blocks) if self.by_kind else None
        self.candidates, self.ef_search = candidates, ef_search
        # every song's answer, computed by the index stage (memory-mapped): a query by id is a look-up
        self.neighbours = self.neighbour_scores = None
        if (d / NEIGHBOURS).exists() and (d / NEIGHBOUR_SCORES).exists():
            self.neighbours = np.load(d / NEIGHBOURS, mmap_mode="r")  # (N, C) int32 rows, best first; -1: none
            self.neighbour_scores = np.load(d / NEIGHBOUR_SCORES, mmap_mode="r")  # (N, C) their ranking scores
        self._catalog = catalog  # modality -> track ids that have it (for clear errors); read on first need
        self._catalog_paths: tuple | None = None
        self.content_config: tuple | None = None  # (ExpandLyricsConfig, ChunkAudioConfig): to read asked content
        self.explain_sources = explain_sources  # Explainer arguments (lyrics, vocab, audio, reverse mapping)
        self._explainer = None

    @classmethod
    def from_params(cls, params: dict, model: str, device: str = "cpu", with_catalog: bool = True,
                    catalog: dict[str, set[str]] | None = None) -> Recommender:
        """The recommender of ``model`` with the pipeline's paths and ``retrieval`` settings (``catalog``:
        :func:`read_catalog`'s answer, when several recommenders share it)."""
        known_model(model)
        paths, cfg = section(params, "paths"), section(params, "retrieval")
        files = paths.model_files(model)
        raw = section(params, "raw")
        sources = {"lyrics_path": paths.lyrics, "vocab_path": paths.vocab, "audio_dir": paths.audio,
                   "reverse_mapping": raw.mxm_reverse_mapping or None}
        rec = cls(files["index"], files["ckpt"], paths.songs, cfg.candidates, cfg.ef_search, device, catalog,
                  sources)
        if with_catalog and catalog is None:
            rec._catalog_paths = (paths.lyrics, paths.audio)
        rec.content_config = (section(params, "expand_lyrics"), section(params, "chunk_audio"))
        return rec

    @property
    def catalog(self) -> dict[str, set[str]]:
        """Modality -> the catalog's track ids that have it, read when an error first needs it."""
        if self._catalog is None:
            self._catalog = read_catalog(*self._catalog_paths) if self._catalog_paths else {}
        return self._catalog

    @property
    def model(self):
        """The checkpoint's model (imports torch): only content queries need it."""
        with self._model_lock:  # answers run on threads: load it once
            if self._model is None:
                from songsim.core.checkpoint import load_checkpoint, pick_device

                model, _ = load_checkpoint(self.checkpoint, pick_device(self.device_name))
                self._model = model.eval()
        return self._model

    def _check(self, track_id: str) -> int:
        row = self.ids.row(track_id)
        if row is not None:
            return row
        spec = MODELS[self.name]
        needs = spec.modalities
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
        each hit says why (``Hit.why``: modality percentiles, shared words, agreeing audio facets)."""
        row = self._check(track_id)
        mine = _artist(self.ids.meta_of(row)) if exclude_same_artist else None
        if self.by_lookup(k, candidates):
            return self._listed(row, k, mine, (track_id, None) if explain else None)
        q = self.index.reconstruct_batch(np.array([row], dtype=np.int64))[0]  # (D,) its ranking vector, as indexed
        return self._rank(q, k, candidates, row, mine, (track_id, None) if explain else None)

    def by_lookup(self, k: int, candidates: int | None = None) -> bool:
        """Whether a query by id for ``k`` songs is answered from the precomputed neighbour lists (a look-up
        of a few microseconds, no index search) rather than through the index."""
        return (self.neighbours is not None and candidates in (None, self.candidates) and k <= self.candidates
                and self.neighbours.shape[1] == min(len(self.ids) - 1, self.candidates))

    def _listed(self, row: int, k: int, mine: str | None, explain: tuple | None) -> list[Hit]:
        """The answer the index stage computed for song ``row`` (what ``_rank`` computes live), read back."""
        ids = np.asarray(self.neighbours[row], dtype=np.int64)
        raw = np.asarray(self.neighbour_scores[row], dtype=np.float32)
        keep = ids >= 0
        if mine is not None:
            _, artist_ids, artists, _ = self.ids.take(ids[keep])
            keep[keep] = [_artist(m) != mine for m in zip(artist_ids, artists)]
        ids, raw = ids[keep], raw[keep]
        if not len(ids):
            return []
        q = self.index.reconstruct(int(row)) if explain is not None or self.by_kind else None
        return self._hits(ids, raw, np.arange(min(k, len(ids))), q, explain)

    def similar_to(self, content, k: int = 10, candidates: int | None = None,
                   explain: bool = False) -> tuple[list[Hit], dict]:
        """The ``k`` catalog songs most similar to a song given by its content (``serve.content.Content``:
        lyrics, audio or both), encoded by the model (torch) as ``embed`` encodes a catalog song. Where the
        content is a catalog song's own (its vector is the one indexed), that song is left out of the
        answer, as when it is asked by id, and named in the returned account (``same_as``)."""
        import time

        from songsim.serve.content import QUERY_ID
        from songsim.serve.encoding import encode_content

        spec = MODELS[self.name]
        t0 = time.perf_counter()
        model = self.model
        loaded = time.perf_counter()
        vec = encode_content(model, spec, content, *self.content_config)
        q = ranking_space(vec[None], self.blocks, self.weights)[0]  # (D,)
        nearest = ann_search(self.index, q[None], 1, self.ef_search)[0]
        same = None
        if nearest[0] >= 0 and np.abs(self.index.reconstruct(int(nearest[0])) - q).max() < 1e-4:
            same = int(nearest[0])
        hits = self._rank(q, k, candidates, same, None, (QUERY_ID, content) if explain else None)
        info = {"model": self.name, "modalities": content.modalities(),
                "same_as": self.ids.take(np.array([same]))[0][0] if same is not None else None,
                "model_load_s": round(loaded - t0, 3), "encode_s": round(time.perf_counter() - loaded, 3)}
        if content.bag is not None:
            info["lyrics"] = content.bag.report
        return hits, info

    def _rank(self, q: np.ndarray, k: int, candidates: int | None, skip: int | None, mine: str | None,
              explain: tuple | None) -> list[Hit]:
        """The catalog ranked by the ranking score against ranking vector ``q`` ``(D,)`` through the index:
        row ``skip`` (the query itself) and songs by artist ``mine`` left out; ``explain``: (query id, its
        content or None) to say why each hit matches."""
        c = min(len(self.ids) - (skip is not None), max(k, candidates or self.candidates))
        ids = ann_search(self.index, q[None], c + (skip is not None), self.ef_search)[0]
        ids = ids[(ids >= 0) & (ids != (-1 if skip is None else skip))].astype(np.int64)
        if mine is not None:
            _, artist_ids, artists, _ = self.ids.take(ids)
            ids = ids[np.array([_artist(m) != mine for m in zip(artist_ids, artists)], dtype=bool)]
        if not len(ids):
            return []
        order = np.sort(ids)  # ties in the ranking score go to the lower row, as in an exhaustive ranking
        cand = self.index.reconstruct_batch(order)  # (C, D) the candidates' ranking vectors the index holds
        raw = cand @ q  # (C,) the ranking score, exactly what the index approximates
        return self._hits(order, raw, np.argsort(-raw, kind="stable")[:k], q, explain, cand)

    def _hits(self, rows: np.ndarray, raw: np.ndarray, top: np.ndarray, q: np.ndarray | None,
              explain: tuple | None, cand: np.ndarray | None = None) -> list[Hit]:
        """The answer: candidates ``rows`` with ranking scores ``raw``, the hits at ``top`` in rank order,
        their calibrated scores and metadata; with ``explain`` (query id, its content or None), why each
        matches (``cand``: the candidates' ranking vectors, read from the index when not given)."""
        tids, _, artists, titles = self.ids.take(rows[top])
        shown = self._calibrated(raw[top], q, rows[top])
        out = [Hit(r, tid, artist, title, float(s), float(raw[j]))
               for r, (tid, artist, title, s, j) in enumerate(zip(tids, artists, titles, shown, top), 1)]
        if explain is not None and out:
            cand = self.index.reconstruct_batch(rows) if cand is None else cand
            self._explain(explain[0], out, cand, top, q, explain[1])
        return out

    def _calibrated(self, raw: np.ndarray, q: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """The scores shown for hits ``rows`` with ranking scores ``raw`` against ranking vector ``q``: each
        through the calibration of its kind of pair (the blocks the query and the hit both have: their bit
        masks ANDed, the hits' read from ``masks``)."""
        if not self.by_kind or q is None:
            return self.calibrator(raw)
        return self.calibrator(raw, (self.masks[rows] & block_masks(q, self.blocks)[0]).astype(np.int64))

    def _word_effects(self, query: tuple[list, list], results: list[tuple[list, list] | None]) -> list[dict]:
        """Per result, what each word it shares with the query does to their lyrics match under the model
        (``serve.encoding.word_effects``)."""
        from songsim.serve.encoding import word_effects

        return word_effects(self.model, MODELS[self.name], self.blocks, self.weights, self._modality_columns("lyrics"),
                            self.content_config, query, results)

    def _modality_columns(self, modality: str) -> np.ndarray:
        """Columns of the ranking space that hold ``modality``'s blocks (every ensemble member's)."""
        spec = MODELS[self.name]
        modalities = spec.modalities
        edges = np.cumsum([0, *self.blocks])
        return np.concatenate([np.arange(a, b) for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))
                               if modalities[i % len(modalities)] == modality])

    def _explain(self, query: str, hits: list[Hit], cand: np.ndarray, top: np.ndarray, q: np.ndarray,
                 content=None) -> None:
        """``cand`` ``(C, D)``: the ranking vectors of every candidate fetched for the query; ``top`` the
        rows of the hits among them; ``content``: the query's own, when it is not a catalog song."""
        from songsim.serve.explain import Explainer

        if self._explainer is None:
            sources = self.explain_sources or {"lyrics_path": None, "vocab_path": None, "audio_dir": None}
            words = self._word_effects if MODELS[self.name].uses_lyrics and self.content_config else None
            self._explainer = Explainer(**sources, word_effects=words)
        spec = MODELS[self.name]
        modalities = spec.modalities
        edges = np.cumsum([0, *self.blocks])
        parts = [(a, b) for a, b in zip(edges[:-1], edges[1:])]  # K members x M modalities, member by member

        def per_modality(rows: np.ndarray) -> np.ndarray:  # (n, K * M) -> (n, M): the members summed
            return rows.reshape(len(rows), -1, len(modalities)).sum(1)

        pool = per_modality(np.stack([cand[:, a:b] @ q[a:b] for a, b in parts], axis=1))  # (C, M)
        norms = per_modality(np.stack([np.linalg.norm(cand[:, a:b], axis=1) for a, b in parts], axis=1))
        q_norms = per_modality(np.array([[np.linalg.norm(q[a:b]) for a, b in parts]]))[0]
        missing = {}  # a zero block in the ranking space: the song has no such input (a partial model's)
        for j, m in enumerate(modalities):
            if q_norms[j] < 1e-6:
                missing[m] = ["query"]
            elif (norms[top, j] < 1e-6).any():
                missing[m] = [h.track_id for h, n in zip(hits, norms[top, j]) if n < 1e-6]
        whys = self._explainer.explain(query, [h.track_id for h in hits], pool[top], modalities, pool, missing,
                                       content)
        for h, why in zip(hits, whys):
            h.why = why
