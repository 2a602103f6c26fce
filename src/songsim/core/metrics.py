"""Regression, ranking and classification metrics, plus the trivial baselines reported beside them."""

from __future__ import annotations

import numpy as np


def _r(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def ndcg_at_k(src: np.ndarray, y: np.ndarray, p: np.ndarray, k: int) -> float | None:
    """Mean nDCG@k over source tracks with >= 2 targets: each source's targets ranked by prediction (ties in
    pair order), gain = true score. ``src`` is any per-pair key (song rows or ids); vectorised, no per-pair
    Python objects."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    n = len(y)
    if n == 0:
        return None
    _, group = np.unique(np.asarray(src), return_inverse=True)
    order = np.lexsort((np.arange(n), -p, group))  # by source, then prediction (high first), then pair order
    starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)  # position within the source's list
    disc = np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
    dcg = np.add.reduceat(y[order] * disc, starts)
    idcg = np.add.reduceat(y[np.lexsort((-y, group))] * disc, starts)
    keep = (sizes >= 2) & (idcg > 0)
    return _r(float(np.mean(dcg[keep] / idcg[keep]))) if keep.any() else None


def mae(y: np.ndarray, p: np.ndarray) -> float:
    """Mean absolute error, computed in the inputs' own precision."""
    return float(np.abs(np.asarray(p) - np.asarray(y)).mean())


def accuracy(y: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> float:
    """Share of predictions on the right side of ``threshold`` (labels are 0/1)."""
    return float(((np.asarray(prob) >= threshold) == (np.asarray(y) >= 0.5)).mean())


# early-stopping (validation) metric per task: (name, function of (target, prediction), higher is better)
STOP_METRIC = {"classification": ("accuracy", accuracy, True), "regression": ("mae", mae, False)}


def stop_metric(task: str, y: np.ndarray, p: np.ndarray) -> float:
    """Value of the validation metric that early stopping and the best checkpoint follow for ``task``."""
    return STOP_METRIC[task][1](y, p)


def regression_metrics(y: np.ndarray, p: np.ndarray, src: list[str] | None = None, k: int = 10,
                       bins: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)) -> dict:
    from scipy.stats import pearsonr, spearmanr  # here, not at the top: scipy.stats and sklearn.metrics take
    # a second to import, and every stage that trains, embeds or indexes imports this module without them
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    err = p - y
    out = {
        "n": int(len(y)),
        "mae": _r(mae(y, p)),
        "rmse": _r(np.sqrt((err**2).mean())),
        "mse": _r((err**2).mean()),
        "pearson": _r(pearsonr(y, p)[0]) if len(y) > 2 and p.std() > 0 and y.std() > 0 else None,
        "spearman": _r(spearmanr(y, p)[0]) if len(y) > 2 and p.std() > 0 and y.std() > 0 else None,
    }
    if src is not None:
        out[f"ndcg@{k}"] = ndcg_at_k(src, y, p, k)
    per_bin = {}
    edges = np.asarray(bins)
    which = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, len(edges) - 2)
    for b in range(len(edges) - 1):
        m = which == b
        per_bin[f"{edges[b]:.1f}-{edges[b + 1]:.1f}"] = {"n": int(m.sum()),
                                                          "mae": _r(np.abs(err[m]).mean()) if m.any() else None}
    out["mae_by_score_bin"] = per_bin
    return out


def classification_metrics(y: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score
    y = np.asarray(y).astype(int)
    pred = (np.asarray(prob) >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "n": int(len(y)),
        "accuracy": _r(accuracy(y, prob, threshold)),
        "precision": _r(precision_score(y, pred, zero_division=0)),
        "recall": _r(recall_score(y, pred, zero_division=0)),
        "f1": _r(f1_score(y, pred, zero_division=0)),
        "roc_auc": _r(roc_auc_score(y, prob)) if both else None,
        "confusion_matrix": confusion_matrix(y, pred, labels=[0, 1]).tolist(),
    }


def calibrate(train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Least-squares line fitted on the training pairs, clipped to [0, 1]: turns a raw similarity
    (e.g. a cosine) into a score prediction so its MAE is comparable with the models'."""
    a = np.vstack([train_x, np.ones_like(train_x)]).T
    coef, *_ = np.linalg.lstsq(a, train_y, rcond=None)
    return np.clip(coef[0] * x + coef[1], 0.0, 1.0)


def tfidf_vectors(word_ids: list[list[int]], counts: list[list[int]], vocab_size: int, idf: np.ndarray | None = None):
    """Sparse L2-normalised TF-IDF rows (CSR) for songs given as bags of words."""
    indptr = np.cumsum([0] + [len(w) for w in word_ids])
    cols = np.concatenate([np.asarray(w, dtype=np.int64) for w in word_ids]) if word_ids else np.zeros(0, np.int64)
    vals = np.concatenate([np.asarray(c, dtype=np.float64) for c in counts]) if counts else np.zeros(0)
    return tfidf_matrix(indptr, cols, vals, vocab_size, idf)


def document_frequency_idf(cols: np.ndarray, n_docs: int, vocab_size: int) -> np.ndarray:
    """Smoothed IDF from the word ids of ``n_docs`` songs' bags (all their entries, concatenated)."""
    df = np.bincount(cols, minlength=vocab_size + 1)
    return np.log((1 + n_docs) / (1 + df)) + 1.0


def tfidf_matrix(indptr: np.ndarray, cols: np.ndarray, vals: np.ndarray, vocab_size: int,
                 idf: np.ndarray | None = None):
    """Sparse L2-normalised TF-IDF rows (CSR) from bags given as flat CSR arrays (Arrow list offsets and
    values: no Python object per word); ``idf`` from these rows when not given. Returns (rows, idf)."""
    from scipy.sparse import csr_matrix

    m = csr_matrix((vals, cols, indptr), shape=(len(indptr) - 1, vocab_size + 1))
    if idf is None:
        idf = document_frequency_idf(cols, len(indptr) - 1, vocab_size)
    m = m.multiply(idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    from scipy.sparse import diags

    return diags(1.0 / norms) @ m, idf


def row_cosine(a, b) -> np.ndarray:
    """Cosine of matching rows of two L2-normalised (sparse or dense) matrices."""
    if hasattr(a, "multiply"):
        return np.asarray(a.multiply(b).sum(axis=1)).ravel()
    return (a * b).sum(axis=1)
