"""Ranking evaluation, the way recommendation is judged: query-by-example over the held-out test tracks.

Each test track with at least one relevant Last.fm similar among the test tracks is a query; every other
test track is a candidate (never a training song, as query or candidate). Relevance is graded by the
Last.fm score (nDCG) and binary at ``evaluate.relevant_score`` (recall@k, MAP@100, MRR, ROC-AUC). The
same queries are ranked by the model's exhaustive pair scores, by baselines (random, TF-IDF lyrics
cosine, mean-audio cosine, and on a synthetic world the oracle: listed pairs by their noise-free
expected score, unlisted pairs last, i.e. the ceiling under these judgments), and by the served two-stage
path (HNSW candidates re-ranked by the model), reported as the overlap of its top-10 with the exhaustive
top-10 for several candidate counts.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from songsim.core.config import EvaluateConfig, RetrievalConfig
from songsim.judge.ranking import RankingAccumulator, topk_overlap
from songsim.learn.data import PairData, SongTable
from songsim.learn.inference import encode_songs
from songsim.models.nets import PairModel
from songsim.serve.retrieval import ann_search, build_index, candidate_space, score_all

log = logging.getLogger(__name__)


def judgments(test: PairData, rows: np.ndarray, relevant_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Graded gains and binary relevance ``(T, T)`` among the test tracks ``rows`` (both directions)."""
    pos = np.full(int(max(test.src.max(), test.tgt.max())) + 1, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    gains = np.zeros((len(rows), len(rows)), dtype=np.float64)
    lab = test.labelled
    a, b, s = pos[test.src[lab]], pos[test.tgt[lab]], test.score[lab].astype(np.float64)
    gains[a, b] = np.maximum(gains[a, b], s)
    gains[b, a] = np.maximum(gains[b, a], s)
    return gains, gains >= max(relevant_score, 1e-12)


def evaluate_ranking(model: PairModel, songs: SongTable, test: PairData, device: torch.device, amp: bool,
                     ecfg: EvaluateConfig, rcfg: RetrievalConfig, baselines: dict[str, np.ndarray],
                     oracle: np.ndarray | None, seed: int = 0) -> tuple[dict, list[dict]]:
    """The ``retrieval`` metrics block and the recall@k curve rows. ``baselines`` maps a name to a
    ``(S, d)`` matrix (rows of ``songs``) whose dot products score a pair; ``oracle`` is the noise-free
    score per test pair (NaN where unknown)."""
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
        return block, []
    g, r = gains[queries], relevant[queries]
    self_mask = np.zeros((len(queries), len(rows)), dtype=bool)
    self_mask[np.arange(len(queries)), queries] = True
    k10 = 10

    def measure(scores: np.ndarray) -> tuple[dict, np.ndarray]:
        scores = np.where(self_mask, -np.inf, scores)
        acc = RankingAccumulator(tuple(ecfg.recall_ks), ndcg_k=ecfg.ndcg_k)
        acc.add(scores, g, r)
        return acc.result(), scores

    vecs = encode_songs(model, songs, rows, 512, device, amp)  # (T, D)
    exhaustive = score_all(model, vecs, queries, np.arange(len(rows)))
    block["model"], exhaustive = measure(exhaustive)
    base: dict[str, dict] = {"random": measure(rng.random((len(queries), len(rows))))[0]}
    for name, mat in baselines.items():
        m = mat[rows]
        sims = m[queries] @ m.T
        base[name] = measure(np.asarray(sims.todense() if hasattr(sims, "todense") else sims))[0]
    if oracle is not None and np.isfinite(oracle).any():
        o = np.zeros((len(rows), len(rows)))
        pos = {int(s): i for i, s in enumerate(rows)}
        for s, t, v in zip(test.src, test.tgt, oracle):
            if np.isfinite(v):
                o[pos[int(s)], pos[int(t)]] = o[pos[int(t)], pos[int(s)]] = 1.0 + v  # listed pairs first
        base["oracle"] = measure(o[queries])[0]
    block["baselines"] = base
    key = f"ndcg@{ecfg.ndcg_k}"
    if "oracle" in base and base["oracle"][key] is not None:
        block[f"gap_to_oracle_{key}"] = round(base["oracle"][key] - block["model"][key], 6)
    # served: HNSW candidates in the vector space, re-ranked by the model; top-10 vs the exhaustive top-10
    v = vecs.float().cpu().numpy()
    index = build_index(candidate_space(v, model.vector_blocks()), rcfg)
    c_max = min(max(ecfg.served_candidates), len(rows) - 1)
    ann = ann_search(index, candidate_space(v[queries], model.vector_blocks()), c_max + 1, rcfg.ef_search)
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
    return block, curve
