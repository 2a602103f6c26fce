"""Ranking evaluation, the way recommendation is judged: query-by-example over the held-out test tracks.

Each test track with at least one relevant Last.fm similar among the test tracks is a query; every other
test track is a candidate (never a training song, as query or candidate). Relevance is graded by the
Last.fm score (nDCG) and binary at ``evaluate.relevant_score`` (recall@k, MAP@100, MRR, ROC-AUC). The
same queries are ranked by the model's ranking function (exhaustively: the inner products of the
ranking vectors, what ``songsim similar`` serves), by the model's pair decoder (for comparison), by
baselines (random, TF-IDF lyrics cosine, mean-audio cosine, the hybrid of the two tuned on validation,
and on a synthetic world the oracle: listed pairs by their noise-free expected score, unlisted pairs
last, i.e. the ceiling under these judgments), and by the served path (an HNSW index over the ranking
vectors), reported as the overlap of its top-10 with the exhaustive top-10 for several candidate counts.
The calibrated score (the isotonic map stored in the checkpoint) is checked on the test pairs: expected
calibration error and a reliability curve.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from songsim.core.config import EvaluateConfig, RetrievalConfig
from songsim.core.metrics import apply_calibration, reliability
from songsim.core.ranking import RankingAccumulator, graded_judgments, paired_bootstrap, topk_overlap
from songsim.learn.data import PairData, SongTable
from songsim.learn.inference import encode_songs
from songsim.models.nets import PairModel
from songsim.serve.retrieval import ann_search, build_index, ranking_space, score_all

log = logging.getLogger(__name__)


def judgments(test: PairData, rows: np.ndarray, relevant_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Graded gains and binary relevance ``(T, T)`` among the test tracks ``rows`` (both directions)."""
    return graded_judgments(test.src, test.tgt, test.score, test.labelled, rows, relevant_score)


HYBRID_GRID = tuple(round(0.1 * k, 1) for k in range(11))  # lyrics weight of the hybrid baseline


def pairwise(mat, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Dense ``(Q, T)`` dot products of the query rows against every row among ``rows`` of a song matrix
    ``mat`` (sparse or dense; unit rows give cosines)."""
    m = mat[rows]
    sims = m[queries] @ m.T
    return np.asarray(sims.todense() if hasattr(sims, "todense") else sims)


def tune_hybrid(val: PairData, lyrics: np.ndarray, audio: np.ndarray, ecfg: EvaluateConfig) -> float:
    """The lyrics weight ``w`` of the hybrid baseline ``w`` x TF-IDF cosine + (1 - ``w``) x mean-audio
    cosine that ranks the validation catalog best (nDCG@10, the first of equals on the grid 0, 0.1 .. 1).
    ``lyrics``/``audio``: ``(S, d)`` unit rows of the songs (sparse or dense)."""
    rows = np.unique(np.concatenate([val.src, val.tgt]))
    gains, relevant = judgments(val, rows, ecfg.relevant_score)
    queries = np.flatnonzero(relevant.any(axis=1))
    if not len(queries):
        return 0.5
    ls, as_ = pairwise(lyrics, rows, queries), pairwise(audio, rows, queries)
    self_mask = np.zeros((len(queries), len(rows)), dtype=bool)
    self_mask[np.arange(len(queries)), queries] = True
    best, best_w = -1.0, 0.5
    for w in HYBRID_GRID:
        acc = RankingAccumulator(tuple(ecfg.recall_ks), ndcg_k=ecfg.ndcg_k)
        acc.add(np.where(self_mask, -np.inf, w * ls + (1 - w) * as_), gains[queries], relevant[queries])
        score = acc.result()[f"ndcg@{ecfg.ndcg_k}"] or 0.0
        if score > best:
            best, best_w = score, w
    return best_w


def evaluate_ranking(model: PairModel, songs: SongTable, test: PairData, device: torch.device, amp: bool,
                     ecfg: EvaluateConfig, rcfg: RetrievalConfig, baselines: dict[str, np.ndarray],
                     oracle: np.ndarray | None, seed: int = 0, calibration: dict | None = None,
                     hybrid_weight: float | None = None) -> tuple[dict, list[dict], list[dict]]:
    """The ``retrieval`` metrics block, the recall@k curve rows and the reliability rows. ``baselines``
    maps a name to a ``(S, d)`` matrix (rows of ``songs``) whose dot products score a pair; with
    ``hybrid_weight`` ``w``, the hybrid baseline ``w`` x ``tfidf_cosine`` + (1 - ``w``) x
    ``audio_mean_cosine`` is ranked too; ``oracle`` is the noise-free score per test pair (NaN where
    unknown); ``calibration`` the checkpoint's isotonic map (the ECE is reported when it is given)."""
    rows = np.unique(np.concatenate([test.src, test.tgt]))  # the test tracks: queries and candidates
    gains, relevant = judgments(test, rows, ecfg.relevant_score)
    queries = np.flatnonzero(relevant.any(axis=1))
    rng = np.random.default_rng([seed, 11])
    if ecfg.max_queries and len(queries) > ecfg.max_queries:
        queries = np.sort(rng.choice(queries, ecfg.max_queries, replace=False))
    block = {"queries": int(len(queries)), "candidates_per_query": int(len(rows) - 1),
             "relevant_score": ecfg.relevant_score}
    if not len(queries):
        log.warning("ranking: no test track has a relevant similar among the test tracks")
        return block, [], []
    g, r = gains[queries], relevant[queries]
    self_mask = np.zeros((len(queries), len(rows)), dtype=bool)
    self_mask[np.arange(len(queries)), queries] = True
    k10 = 10

    per_query: dict[int, list[float]] = {}  # id(result block) -> its per-query nDCG, for the bootstrap

    def measure(scores: np.ndarray) -> tuple[dict, np.ndarray]:
        scores = np.where(self_mask, -np.inf, scores)
        acc = RankingAccumulator(tuple(ecfg.recall_ks), ndcg_k=ecfg.ndcg_k)
        acc.add(scores, g, r)
        res = acc.result()
        per_query[id(res)] = acc.ndcg
        return res, scores

    vecs = encode_songs(model, songs, rows, 512, device, amp)  # (T, D)
    v = vecs.float().cpu().numpy()
    space = ranking_space(v, model.vector_blocks(), model.rank_weights().tolist())  # (T, D): the served function
    block["rank_weights"] = [round(w, 6) for w in model.rank_weights().tolist()]
    block["model"], exhaustive = measure(space[queries] @ space.T)
    block["model_pair_decoder"] = measure(score_all(model, vecs, queries, np.arange(len(rows))))[0]
    base: dict[str, dict] = {"random": measure(rng.random((len(queries), len(rows))))[0]}
    sims = {name: pairwise(mat, rows, queries) for name, mat in baselines.items()}
    for name, s in sims.items():
        base[name] = measure(s)[0]
    if hybrid_weight is not None:
        w = hybrid_weight
        base["hybrid"] = measure(w * sims["tfidf_cosine"] + (1 - w) * sims["audio_mean_cosine"])[0]
        base["hybrid"]["lyrics_weight"] = w
    if oracle is not None and np.isfinite(oracle).any():
        o = np.zeros((len(rows), len(rows)))
        pos = {int(s): i for i, s in enumerate(rows)}
        for s, t, v in zip(test.src, test.tgt, oracle):
            if np.isfinite(v):
                o[pos[int(s)], pos[int(t)]] = o[pos[int(t)], pos[int(s)]] = 1.0 + v  # listed pairs first
        base["oracle"] = measure(o[queries])[0]
    block["baselines"] = base
    key = f"ndcg@{ecfg.ndcg_k}"
    # paired bootstrap over the queries: the model's nDCG minus the best single baseline's, and the hybrid's
    singles = [n for n in ("tfidf_cosine", "audio_mean_cosine") if n in base]
    best = max(singles, key=lambda n: base[n][key] or 0.0)
    block["bootstrap"] = {f"model_minus_{n}": paired_bootstrap(per_query[id(block["model"])], per_query[id(base[n])],
                                                               seed=seed) for n in [best] + (["hybrid"] if "hybrid"
                                                                                             in base else [])}
    if "oracle" in base and base["oracle"][key] is not None:
        block[f"gap_to_oracle_{key}"] = round(base["oracle"][key] - block["model"][key], 6)
    # served: C candidates from the HNSW index over the ranking vectors, ordered by the same function;
    # their top-10 against the exhaustive top-10
    index = build_index(space, rcfg)
    c_max = min(max(ecfg.served_candidates), len(rows) - 1)
    ann = ann_search(index, space[queries], c_max + 1, rcfg.ef_search)
    ref = np.argsort(-exhaustive, axis=1, kind="stable")[:, :k10]
    served = {}
    for c in sorted(set(min(c, c_max) for c in ecfg.served_candidates)):
        top = []
        for qi, q in enumerate(queries):
            cand = np.array([j for j in ann[qi] if j >= 0 and j != q][:c], dtype=np.int64)
            top.append(cand[np.argsort(-exhaustive[qi, cand], kind="stable")][:k10].tolist() + [-1] * max(
                0, k10 - len(cand)))
        served[str(c)] = round(topk_overlap(np.array(top), ref), 6)
    block["served_vs_exhaustive_recall@10"] = served
    block["served_candidates"] = min(rcfg.candidates, c_max)
    curve = []
    for k in ecfg.recall_ks:
        row = {"k": k, "model": block["model"][f"recall@{k}"]}
        row.update({name: b[f"recall@{k}"] for name, b in base.items()})
        curve.append(row)
    rel_rows: list[dict] = []
    if calibration is not None:  # the calibrated score of every test pair against its Last.fm score
        pos = np.full(len(songs), -1, dtype=np.int64)
        pos[rows] = np.arange(len(rows))
        raw = np.einsum("pd,pd->p", space[pos[test.src]], space[pos[test.tgt]])
        ece, rel_rows = reliability(apply_calibration(raw, calibration), test.score)
        block["calibration"] = {"pairs": int(len(test)), "ece": ece,
                                "note": "isotonic map fitted on validation pairs (checkpoint), scored on test pairs"}
    return block, curve, rel_rows
