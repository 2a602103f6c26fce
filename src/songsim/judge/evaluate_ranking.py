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
from scipy import sparse

from songsim.core.calibration import block_presence, calibrate_pairs, pair_groups, reliability
from songsim.core.config import EvaluateConfig, RetrievalConfig
from songsim.core.ranking import (
    Judgments,
    RankingAccumulator,
    blocks,
    one_per_cell,
    paired_bootstrap,
    query_segments,
    segment_results,
    topk_overlap,
)
from songsim.judge.baselines import PAIR_BLOCK
from songsim.learn.data import PairData, SongTable
from songsim.learn.inference import encode_songs, score_all
from songsim.models.nets import PairModel
from songsim.serve.retrieval import ann_search, build_index, ranking_space

log = logging.getLogger(__name__)
QUERY_BLOCK = 256  # queries ranked at once: memory O(QUERY_BLOCK x test catalog)


def judgments(pairs: PairData, rows: np.ndarray, relevant_score: float) -> Judgments:
    """Sparse graded relevance among the catalog songs ``rows`` (both directions of the listed pairs)."""
    return Judgments(pairs.src, pairs.tgt, pairs.score, pairs.labelled, rows, relevant_score)


HYBRID_GRID = tuple(round(0.1 * k, 1) for k in range(11))  # lyrics weight of the hybrid baseline


def dense(sims) -> np.ndarray:
    """A block of dot products as a dense array (sparse products come back as matrices)."""
    return np.asarray(sims.todense() if hasattr(sims, "todense") else sims)


def pairwise(mat, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Dense ``(Q, T)`` dot products of the query rows against every row among ``rows`` of a song matrix
    ``mat`` (sparse or dense; unit rows give cosines). For a block of queries: memory O(Q x T)."""
    m = mat[rows]
    return dense(m[queries] @ m.T)


def pair_dots(space: np.ndarray, left: np.ndarray, right: np.ndarray, block: int = PAIR_BLOCK) -> np.ndarray:
    """``(P,)`` inner products of rows ``left[i]`` and ``right[i]`` of ``space`` (``(S, D)``), gathered
    ``block`` pairs at a time: memory O(block x D), not O(P x D); each pair's product as in one gather."""
    out = np.empty(len(left), dtype=space.dtype)
    for sl in blocks(len(left), block):
        out[sl] = np.einsum("pd,pd->p", space[left[sl]], space[right[sl]])
    return out


def _self_mask(queries: np.ndarray, t: int) -> np.ndarray:
    mask = np.zeros((len(queries), t), dtype=bool)
    mask[np.arange(len(queries)), queries] = True
    return mask


def tune_hybrid(val: PairData, lyrics: np.ndarray, audio: np.ndarray, ecfg: EvaluateConfig) -> float:
    """The lyrics weight ``w`` of the hybrid baseline ``w`` x TF-IDF cosine + (1 - ``w``) x mean-audio
    cosine that ranks the validation catalog best (nDCG@10, the first of equals on the grid 0, 0.1 .. 1).
    ``lyrics``/``audio``: ``(S, d)`` unit rows of the songs (sparse or dense). Queries in blocks."""
    rows = np.unique(np.concatenate([val.src, val.tgt]))
    judged = judgments(val, rows, ecfg.relevant_score)
    queries = judged.queries()
    if not len(queries):
        return 0.5
    ml, ma = lyrics[rows], audio[rows]
    accs = {w: RankingAccumulator(tuple(ecfg.recall_ks), ndcg_k=ecfg.ndcg_k) for w in HYBRID_GRID}
    for sl in blocks(len(queries), QUERY_BLOCK):
        q = queries[sl]
        ls, as_ = dense(ml[q] @ ml.T), dense(ma[q] @ ma.T)
        g, r = judged.block(q)
        mask = _self_mask(q, len(rows))
        for w, acc in accs.items():
            acc.add(np.where(mask, -np.inf, w * ls + (1 - w) * as_), g, r)
    best, best_w = -1.0, 0.5
    for w, acc in accs.items():
        score = acc.result()[f"ndcg@{ecfg.ndcg_k}"] or 0.0
        if score > best:
            best, best_w = score, w
    return best_w


def oracle_matrix(test: PairData, rows: np.ndarray, oracle: np.ndarray) -> sparse.csr_matrix:
    """Sparse ``(T, T)``: 1 + the noise-free score of each listed test pair with one (both directions;
    listed pairs rank first), 0 elsewhere; a cell listed twice keeps its last pair's value."""
    pos = np.full(int(max(test.src.max(), test.tgt.max(), rows.max())) + 1, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    ok = np.isfinite(oracle)
    a, b, v = pos[test.src[ok]], pos[test.tgt[ok]], 1.0 + oracle[ok]
    seq = np.r_[np.arange(len(a)) * 2, np.arange(len(a)) * 2 + 1]  # pair order, each pair's two cells in turn
    return one_per_cell(np.r_[a, b], np.r_[b, a], np.r_[v, v], -seq, len(rows))  # the last write wins


def evaluate_ranking(model: PairModel, songs: SongTable, test: PairData, device: torch.device, amp: bool,
                     ecfg: EvaluateConfig, rcfg: RetrievalConfig, baselines: dict[str, np.ndarray],
                     oracle: np.ndarray | None, seed: int = 0, calibration: dict | None = None,
                     hybrid_weight: float | None = None,
                     modalities: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[dict, list[dict], list[dict]]:
    """The ``retrieval`` metrics block, the recall@k curve rows and the reliability rows. ``baselines``
    maps a name to a ``(S, d)`` matrix (rows of ``songs``) whose dot products score a pair; with
    ``hybrid_weight`` ``w``, the hybrid baseline ``w`` x ``tfidf_cosine`` + (1 - ``w``) x
    ``audio_mean_cosine`` is ranked too; ``oracle`` is the noise-free score per test pair (NaN where
    unknown); ``calibration`` the checkpoint's isotonic map (the ECE is reported when it is given);
    ``modalities``: ``(has_lyrics, has_audio)`` per song row, splitting the queries into segments
    (``both``, ``audio_only``, ``lyrics_only``) each reported with its baselines (:func:`segment_results`).
    Queries are ranked in blocks of ``QUERY_BLOCK`` against the whole test catalog, with sparse
    judgments: memory O(block x catalog), never O(catalog squared)."""
    rows = np.unique(np.concatenate([test.src, test.tgt]))  # the test tracks: queries and candidates
    t = len(rows)
    judged = judgments(test, rows, ecfg.relevant_score)
    queries = judged.queries()
    rng = np.random.default_rng([seed, 11])
    if ecfg.max_queries and len(queries) > ecfg.max_queries:
        queries = np.sort(rng.choice(queries, ecfg.max_queries, replace=False))
    block = {"queries": int(len(queries)), "candidates_per_query": int(t - 1),
             "relevant_score": ecfg.relevant_score}
    if not len(queries):
        log.warning("ranking: no test track has a relevant similar among the test tracks")
        return block, [], []
    k10 = 10
    vecs = encode_songs(model, songs, rows, 512, device, amp)  # (T, D)
    v = vecs.float().cpu().numpy()
    space = ranking_space(v, model.vector_blocks(), model.rank_weights().tolist())  # (T, D): the served function
    block["rank_weights"] = [round(w, 6) for w in model.rank_weights().tolist()]
    mats = {name: mat[rows] for name, mat in baselines.items()}
    orc = oracle_matrix(test, rows, oracle) if oracle is not None and np.isfinite(oracle).any() else None
    names = ["model", "model_pair_decoder", "random", *mats] + (["hybrid"] if hybrid_weight is not None else []) \
        + (["oracle"] if orc is not None else [])
    accs = {n: RankingAccumulator(tuple(ecfg.recall_ks), ndcg_k=ecfg.ndcg_k) for n in names}
    # served: C candidates from the HNSW index over the ranking vectors, ordered by the same function;
    # their top-10 against the exhaustive top-10
    index = build_index(space, rcfg)
    c_max = min(max(ecfg.served_candidates), t - 1)
    ann = ann_search(index, space[queries], c_max + 1, rcfg.ef_search)
    counts = sorted(set(min(c, c_max) for c in ecfg.served_candidates))
    ref, top = [], {c: [] for c in counts}
    # the pair decoder (a comparison) ranks a seeded subset: one decoder call per query and candidate
    by_decoder = np.zeros(len(queries), dtype=bool)
    n_dec = len(queries) if not ecfg.decoder_queries else min(ecfg.decoder_queries, len(queries))
    by_decoder[np.random.default_rng([seed, 12]).choice(len(queries), n_dec, replace=False)] = True
    for sl in blocks(len(queries), QUERY_BLOCK):
        q = queries[sl]
        g, r = judged.block(q)
        mask = _self_mask(q, t)

        def add(name: str, scores: np.ndarray, mask=mask, g=g, r=r) -> np.ndarray:
            scores = np.where(mask, -np.inf, scores)
            accs[name].add(scores, g, r)
            return scores

        exhaustive = add("model", space[q] @ space.T)
        dec = by_decoder[sl]
        if dec.any():
            scores = np.where(mask[dec], -np.inf, score_all(model, vecs, q[dec], np.arange(t)))
            accs["model_pair_decoder"].add(scores, g[dec], r[dec])
        add("random", rng.random((len(q), t)))
        sims = {name: dense(m[q] @ m.T) for name, m in mats.items()}
        for name, s_ in sims.items():
            add(name, s_)
        if hybrid_weight is not None:
            add("hybrid", hybrid_weight * sims["tfidf_cosine"] + (1 - hybrid_weight) * sims["audio_mean_cosine"])
        if orc is not None:
            add("oracle", orc[q].toarray())
        # a copy of the top 10: a slice would keep the block's whole (Q, T) argsort alive until the end
        ref.append(np.argsort(-exhaustive, axis=1, kind="stable")[:, :k10].copy())
        for c in counts:
            for qi, query in enumerate(q):
                cand = np.array([j for j in ann[sl][qi] if j >= 0 and j != query][:c], dtype=np.int64)
                top[c].append(cand[np.argsort(-exhaustive[qi, cand], kind="stable")][:k10].tolist() + [-1] * max(
                    0, k10 - len(cand)))
    res = {n: acc.result() for n, acc in accs.items()}
    block["model"], block["model_pair_decoder"] = res["model"], res["model_pair_decoder"]
    base = {n: res[n] for n in names[2:]}
    if "hybrid" in base:
        base["hybrid"]["lyrics_weight"] = hybrid_weight
    block["baselines"] = base
    key = f"ndcg@{ecfg.ndcg_k}"
    # paired bootstrap over the queries: the model's nDCG minus the best single baseline's, and the hybrid's
    singles = [n for n in ("tfidf_cosine", "audio_mean_cosine") if n in base]
    best = max(singles, key=lambda n: base[n][key] or 0.0)
    block["bootstrap"] = {f"model_minus_{n}": paired_bootstrap(accs["model"].ndcg, accs[n].ndcg, seed=seed)
                          for n in [best] + (["hybrid"] if "hybrid" in base else [])}
    if modalities is not None:
        block["segments"] = segment_results(accs, queries, rows, modalities, key, best, seed)
    if "oracle" in base and base["oracle"][key] is not None:
        block[f"gap_to_oracle_{key}"] = round(base["oracle"][key] - block["model"][key], 6)
    ref_top = np.concatenate(ref)
    block["served_vs_exhaustive_recall@10"] = {str(c): round(topk_overlap(np.array(top[c]), ref_top), 6)
                                               for c in counts}
    block["served_candidates"] = min(rcfg.candidates, c_max)
    # each query's nDCG under the model, by track id: two models ranking the same catalog (fused and
    # audio_siamese on a world where every song has audio) compare query by query (a paired bootstrap)
    block["per_query"] = {"track_ids": songs.ids(rows[queries]).tolist(),
                          key: [round(x, 6) for x in accs["model"].ndcg]}
    if modalities is not None:
        block["per_query"]["segment"] = query_segments(modalities, rows[queries])
    curve = []
    for k in ecfg.recall_ks:
        row = {"k": k, "model": block["model"][f"recall@{k}"]}
        row.update({name: b[f"recall@{k}"] for name, b in base.items()})
        curve.append(row)
    rel_rows: list[dict] = []
    if calibration is not None:  # the calibrated score of every test pair against its Last.fm score
        pos = np.full(len(songs), -1, dtype=np.int64)
        pos[rows] = np.arange(len(rows))
        raw = pair_dots(space, pos[test.src], pos[test.tgt])
        has = block_presence(space, model.vector_blocks())  # (T, B)
        kinds = pair_groups(has[pos[test.src]], has[pos[test.tgt]])  # (P,) the blocks each pair shares
        shown = calibrate_pairs(raw, calibration, kinds)
        ece, rel_rows = reliability(shown, test.score)
        block["calibration"] = {"pairs": int(len(test)), "ece": ece,
                                "note": "isotonic maps fitted on validation pairs (checkpoint), one per kind of "
                                        "pair (the vector blocks both songs have), scored on test pairs"}
        if len(np.unique(kinds)) > 1:  # each kind on its own: a pooled ECE can hide opposite errors
            own, by_kind = (calibration.get("groups") or {}), {}
            for g in np.unique(kinds):
                m = kinds == g
                by_kind[str(int(g))] = {"pairs": int(m.sum()), "ece": reliability(shown[m], test.score[m])[0],
                                        "own_map": str(int(g)) in own}
            block["calibration"]["by_kind"] = by_kind
    return block, curve, rel_rows
