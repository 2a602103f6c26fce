"""Ranking metrics for query-by-example retrieval over a catalog, computed block by block of queries.

For each query the candidates are ranked by a score (higher first; ``-inf`` excludes a candidate, e.g.
the query itself). Relevance is graded by the Last.fm score (``gains``, 0 for pairs Last.fm does not
list) for nDCG, and binary (``relevant``: a listed pair at or above a score threshold) for recall@k,
MAP@100, MRR and the per-query ROC-AUC. Only queries with at least one relevant candidate count.
Ties are broken by candidate position (stable sort), so a constant scorer gets no lucky ordering.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def _order(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")


class RankingAccumulator:
    """Add ``(scores, gains, relevant)`` blocks of shape ``(Q, N)``; :meth:`result` gives the means."""

    def __init__(self, ks: tuple[int, ...] = (1, 5, 10, 20, 50, 100), ndcg_k: int = 10, map_k: int = 100):
        self.ks, self.ndcg_k, self.map_k = tuple(sorted(ks)), ndcg_k, map_k
        self.recall: dict[int, list[float]] = {k: [] for k in self.ks}
        self.ndcg: list[float] = []
        self.ap: list[float] = []
        self.rr: list[float] = []
        self.auc: list[float] = []

    def add(self, scores: np.ndarray, gains: np.ndarray, relevant: np.ndarray) -> None:
        from scipy.stats import rankdata  # not at the top: scipy.stats takes half a second to import

        scores = np.asarray(scores, dtype=np.float64)
        keep = relevant.any(axis=1)
        if not keep.any():
            return
        scores, gains, relevant = scores[keep], gains[keep], relevant[keep]
        order = _order(scores)
        rel_sorted = np.take_along_axis(relevant, order, axis=1)  # (Q, N) relevance in ranked order
        gain_sorted = np.take_along_axis(gains, order, axis=1)
        n_rel = relevant.sum(axis=1)
        hits = np.cumsum(rel_sorted, axis=1)
        for k in self.ks:
            self.recall[k].extend((hits[:, min(k, hits.shape[1]) - 1] / n_rel).tolist())
        k = min(self.ndcg_k, scores.shape[1])
        disc = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = (gain_sorted[:, :k] * disc).sum(axis=1)
        idcg = (-np.sort(-gains, axis=1)[:, :k] * disc).sum(axis=1)
        self.ndcg.extend((dcg / np.where(idcg > 0, idcg, 1.0)).tolist())
        m = min(self.map_k, scores.shape[1])
        prec = hits[:, :m] / np.arange(1, m + 1)
        self.ap.extend(((prec * rel_sorted[:, :m]).sum(axis=1) / np.minimum(n_rel, m)).tolist())
        self.rr.extend((1.0 / (np.argmax(rel_sorted, axis=1) + 1)).tolist())
        for q in range(len(scores)):
            valid = np.isfinite(scores[q])
            r, s = relevant[q][valid], scores[q][valid]
            n_pos, n_neg = int(r.sum()), int((~r).sum())
            if n_pos and n_neg:  # Mann-Whitney: share of (relevant, other) pairs ranked right, ties 1/2
                ranks = rankdata(s)
                self.auc.append(float((ranks[r].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)))

    def result(self) -> dict:
        def mean(v: list[float]) -> float | None:
            return round(float(np.mean(v)), 6) if v else None

        out = {"queries": len(self.ndcg)}
        out.update({f"recall@{k}": mean(v) for k, v in self.recall.items()})
        out.update({f"ndcg@{self.ndcg_k}": mean(self.ndcg), f"map@{self.map_k}": mean(self.ap), "mrr": mean(self.rr),
                    "roc_auc": mean(self.auc)})
        return out


def one_per_cell(r: np.ndarray, c: np.ndarray, d: np.ndarray, rank: np.ndarray, t: int) -> sparse.csr_matrix:
    """Sparse ``(t, t)`` with values ``d`` at cells ``(r, c)``; where a cell has several values, the one
    with the lowest ``rank`` (a scipy matrix would sum them)."""
    order = np.lexsort((rank, c, r))
    r, c, d = r[order], c[order], d[order]
    first = np.r_[True, (np.diff(r) != 0) | (np.diff(c) != 0)]
    return sparse.csr_matrix((d[first], (r[first], c[first])), shape=(t, t))


class Judgments:
    """Graded relevance among the catalog songs ``rows`` (song row ids, ascending), from the listed pairs:
    a sparse ``(T, T)`` matrix of Last.fm scores (both directions, the larger of two listings), so memory
    grows with the pairs, never with T squared. Dense blocks of query rows come from :meth:`block`."""

    def __init__(self, src: np.ndarray, tgt: np.ndarray, score: np.ndarray, labelled: np.ndarray,
                 rows: np.ndarray, relevant_score: float):
        self.rows, self.relevant_score = rows, max(relevant_score, 1e-12)
        pos = np.full(int(max(src.max(), tgt.max(), rows.max())) + 1, -1, dtype=np.int64)
        pos[rows] = np.arange(len(rows))
        a, b, s = pos[src[labelled]], pos[tgt[labelled]], score[labelled].astype(np.float64)
        ok = (a >= 0) & (b >= 0) & (a != b)
        a, b, s = a[ok], b[ok], s[ok]
        d = np.r_[s, s]  # both directions; a cell listed twice keeps the larger score
        self.gains = one_per_cell(np.r_[a, b], np.r_[b, a], d, -d, len(rows))

    def queries(self) -> np.ndarray:
        """Positions (into ``rows``) of the songs with at least one relevant similar."""
        best = self.gains.max(axis=1).toarray().ravel() if self.gains.nnz else np.zeros(len(self.rows))
        return np.flatnonzero(best >= self.relevant_score)

    def block(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dense gains and relevance ``(Q, T)`` of the query positions ``queries``."""
        g = self.gains[queries].toarray()
        return g, g >= self.relevant_score


def blocks(n: int, size: int = 256):
    """Consecutive slices of ``range(n)`` of at most ``size``: query blocks, memory O(size x catalog)."""
    for k in range(0, n, size):
        yield slice(k, min(n, k + size))


def catalog_ndcg(space: np.ndarray, judgments: Judgments, k: int = 10, block: int = 256) -> float | None:
    """Mean nDCG@k of ranking the catalog for every song with a relevant similar in it, by the inner
    product of ``space`` rows ``(T, D)`` (the song itself excluded); None when no song has one. Queries
    go in blocks: memory O(block x T)."""
    queries = judgments.queries()
    if not len(queries):
        return None
    acc = RankingAccumulator((k,), ndcg_k=k)
    for sl in blocks(len(queries), block):
        q = queries[sl]
        scores = space[q] @ space.T  # (B, T)
        scores[np.arange(len(q)), q] = -np.inf
        acc.add(scores, *judgments.block(q))
    return acc.result()[f"ndcg@{k}"]


def topk_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of ``b``'s rows (reference top-k ids) found in ``a``'s rows (served top-k ids)."""
    return float(np.mean([len(set(x) & set(y)) / max(1, len(y)) for x, y in zip(a.tolist(), b.tolist())]))


def paired_bootstrap(a: list[float] | np.ndarray, b: list[float] | np.ndarray, n: int = 2000,
                     seed: int = 0) -> dict:
    """Mean of the per-query differences ``a - b`` and its 95% percentile interval over ``n`` resamples
    of the queries (the same queries for both: a paired bootstrap)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if not len(d):
        return {"diff": None, "ci95": None, "resamples": 0}
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"diff": round(float(d.mean()), 6), "ci95": [round(float(lo), 6), round(float(hi), 6)], "resamples": n}


SEGMENTS = ("both", "audio_only", "lyrics_only")  # queries by the modalities the query song has


def query_segments(modalities: tuple[np.ndarray, np.ndarray], song_rows: np.ndarray) -> list[str]:
    """The segment (``both``, ``audio_only``, ``lyrics_only``) of each song row, from ``(has_lyrics,
    has_audio)`` per song row."""
    has_l, has_a = (np.asarray(m, dtype=bool)[song_rows] for m in modalities)
    return np.where(has_l & has_a, SEGMENTS[0], np.where(has_a, SEGMENTS[1], SEGMENTS[2])).tolist()


def segment_results(accs: dict[str, RankingAccumulator], queries: np.ndarray, rows: np.ndarray,
                    modalities: tuple[np.ndarray, np.ndarray], key: str, best: str, seed: int) -> dict:
    """Per query segment (the query song has both modalities, audio only, lyrics only): its query count,
    every ranker's mean nDCG and recall@10 over those queries (the same catalog), and the paired
    bootstrap of the model against the single baseline best over all queries and against the hybrid.
    The accumulators hold one value per query, in ``queries`` order (every query has a relevant song)."""
    kinds = np.array(query_segments(modalities, rows[queries]))
    out: dict = {}
    for name in SEGMENTS:
        sel = kinds == name
        if not sel.any():
            continue
        seg: dict = {"queries": int(sel.sum())}
        for n, acc in accs.items():
            if len(acc.ndcg) != len(queries):  # the pair decoder ranks a subset: no per-segment figure
                continue
            seg[n] = {key: round(float(np.mean(np.asarray(acc.ndcg)[sel])), 6),
                      "recall@10": round(float(np.mean(np.asarray(acc.recall[10])[sel])), 6)
                      if 10 in acc.recall else None}
        others = [best] + (["hybrid"] if "hybrid" in accs else [])
        seg["bootstrap"] = {f"model_minus_{n}": paired_bootstrap(list(np.asarray(accs["model"].ndcg)[sel]),
                                                                 list(np.asarray(accs[n].ndcg)[sel]), seed=seed)
                            for n in others if len(accs[n].ndcg) == len(queries)}
        out[name] = seg
    return out
