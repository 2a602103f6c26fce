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


def fit_isotonic(raw: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """Monotone map from a raw ranking score to the expected Last.fm score, fitted by isotonic regression
    (non-decreasing, clipped to [0, 1] and to the fitted range). Plain lists, so it travels in a checkpoint
    loaded with ``weights_only=True``; :func:`apply_calibration` evaluates it (strictly increasing)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    iso.fit(np.asarray(raw, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return {"x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_]}


TAIL_SCALE = 0.05  # in ranking-score units: the slowest a calibration tail may approach 0 or 1
CAL_MARGIN = 0.005  # knots are kept this far inside [0, 1]: an isotonic block fitted at 0 or 1 would flatten a tail


CAL_MIN_GROUP = 50  # validation pairs a kind of pair needs for a map of its own (fewer: the pooled map)


def block_presence(space: np.ndarray, blocks: list[int]) -> np.ndarray:
    """``(N, B)`` bool: which blocks (``blocks`` widths) of each ranking vector (``(N, D)``) are present,
    i.e. not all zero (a song without a modality has that block zero)."""
    space = np.atleast_2d(space)
    edges = np.cumsum([0, *blocks])
    return np.stack([np.any(space[:, a:b] != 0, axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)


def pair_groups(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The kind of each pair ``(P,)`` int: the blocks both songs have (``left``, ``right``: ``(P, B)``
    :func:`block_presence` rows), as a bit mask (bit ``b`` set when both have block ``b``). The ranking
    score of a pair is the weighted sum of the cosines of those blocks only, so each kind has a scale of
    its own: fused's pairs of two songs with both modalities, pairs that share the audio only, the lyrics
    only, or nothing."""
    shared = np.asarray(left, dtype=bool) & np.asarray(right, dtype=bool)
    return (shared * (1 << np.arange(shared.shape[1]))).sum(axis=1).astype(np.int64)


def fit_calibration(raw: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> dict:
    """The calibration a checkpoint stores: :func:`fit_isotonic` over all pairs (``x``, ``y``) and, where
    the pairs are of more than one kind (``groups``: :func:`pair_groups`), one isotonic map per kind with
    at least ``CAL_MIN_GROUP`` pairs (``groups``: ``{str(kind): {"x", "y", "pairs"}}``); a kind with fewer,
    or not seen here, takes the pooled map. One pooled map mixes scales: on fused's held-out world 79 it
    over-estimated the pairs of two songs with both modalities by 0.04 and under-estimated those sharing
    the lyrics only by 0.06 (docs: experiment log)."""
    cal: dict = fit_isotonic(raw, y)
    if groups is None:
        return cal
    groups = np.asarray(groups)
    kinds, counts = np.unique(groups, return_counts=True)
    if len(kinds) > 1:
        raw, y = np.asarray(raw), np.asarray(y)
        cal["groups"] = {str(int(g)): fit_isotonic(raw[groups == g], y[groups == g]) | {"pairs": int(n)}
                         for g, n in zip(kinds, counts) if n >= CAL_MIN_GROUP}
    return cal


def calibrate_pairs(raw: np.ndarray, cal: dict | None, groups: np.ndarray | None) -> np.ndarray:
    """:func:`apply_calibration` with the map of each pair's kind (``groups``: :func:`pair_groups`) where
    the calibration has one, the pooled map elsewhere (and for a calibration fitted before kinds)."""
    raw = np.asarray(raw, dtype=np.float64)
    out = apply_calibration(raw, cal)
    by_kind = (cal or {}).get("groups") or {}
    if groups is None or not by_kind:
        return out
    groups = np.asarray(groups)
    for g in np.unique(groups):
        own = by_kind.get(str(int(g)))
        if own is not None:
            m = groups == g
            out[m] = apply_calibration(raw[m], own)
    return out


def calibration_knots(cal: dict[str, list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """The knots of the strictly increasing map through an isotonic fit: one per fitted block (its
    threshold pairs share a value), at the block's middle, with the block's value; blocks of one value
    merged, values kept within ``CAL_MARGIN`` of 0 and 1. Between knots the map is linear, so scores that
    differ in rank differ once calibrated."""
    x, y = np.asarray(cal["x"], dtype=np.float64), np.asarray(cal["y"], dtype=np.float64)
    y = np.clip(y, CAL_MARGIN, 1.0 - CAL_MARGIN)  # room for the tails to keep rising (see apply_calibration)
    # a block is a run of equal fitted values: (first x + last x) / 2 -> its value
    starts = np.flatnonzero(np.r_[True, np.diff(y) > 0])
    ends = np.r_[starts[1:], len(y)] - 1
    return (x[starts] + x[ends]) / 2, y[starts]


def apply_calibration(raw: np.ndarray, cal: dict[str, list[float]] | None) -> np.ndarray:
    """Calibrated scores of raw ranking scores, strictly increasing in them (no two different ranking
    scores share a calibrated score, up to floating point; an isotonic step function would tie whole
    blocks): piecewise linear through :func:`calibration_knots`, and beyond the first and last knots an
    exponential tail that leaves them with the end segments' slopes (or gentler) and tends to 0 and 1, so the scores
    stay in [0, 1]. Without a calibration, the raw scores clipped to [0, 1]."""
    raw = np.asarray(raw, dtype=np.float64)
    if not cal or not cal.get("x"):
        return np.clip(raw, 0.0, 1.0)
    kx, ky = calibration_knots(cal)
    if len(kx) == 1:  # one block: nothing to order by; a slope of 1 through it
        slope_lo = slope_hi = 1.0
    else:
        slope_lo = (ky[1] - ky[0]) / max(kx[1] - kx[0], 1e-12)
        slope_hi = (ky[-1] - ky[-2]) / max(kx[-1] - kx[-2], 1e-12)
    out = np.interp(raw, kx, ky)
    lo, hi = raw < kx[0], raw > kx[-1]
    # y0 exp((x - x0) / h): value y0 at x0, tending to 0; h = y0 / s keeps the end segment's slope s, unless
    # that would leave the tail flat in floating point within a few hundredths (h at least TAIL_SCALE)
    out[lo] = ky[0] * np.exp((raw[lo] - kx[0]) / max(ky[0] / slope_lo, TAIL_SCALE))
    gap = 1.0 - ky[-1]  # 1 - gap exp(-(x - xn) / h): value yn at xn, tending to 1; h likewise
    out[hi] = 1.0 - gap * np.exp(-(raw[hi] - kx[-1]) / max(gap / slope_hi, TAIL_SCALE))
    return np.clip(out, 0.0, 1.0)


def reliability(pred: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[float, list[dict]]:
    """Expected calibration error of predicted scores ``pred`` against true scores ``y`` over ``bins``
    equal-width bins of [0, 1] (the pair-weighted mean |mean prediction - mean truth| per bin), and the
    per-bin rows of a reliability plot (empty bins left out)."""
    pred, y = np.asarray(pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    idx = np.minimum((pred * bins).astype(int), bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = idx == b
        if not m.any():
            continue
        gap = abs(pred[m].mean() - y[m].mean())
        ece += m.sum() / len(pred) * gap
        rows.append({"bin": round((b + 0.5) / bins, 4), "predicted": round(float(pred[m].mean()), 6),
                     "observed": round(float(y[m].mean()), 6), "pairs": int(m.sum())})
    return round(float(ece), 6), rows
