"""The score a user sees: isotonic maps from a model's ranking score to the Last.fm score, fitted on
validation pairs (one per kind of pair: the vector blocks both songs have), made strictly increasing, and
their expected calibration error."""

from __future__ import annotations

import numpy as np


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


def block_masks(space: np.ndarray, blocks: list[int]) -> np.ndarray:
    """``(N,)``: :func:`block_presence` as one bit mask a vector (bit ``b`` set when it has block ``b``), in the
    smallest unsigned type that holds it; a pair's kind (:func:`pair_groups`) is its two songs' masks ANDed."""
    return _bits(block_presence(space, blocks)).astype(np.min_scalar_type((1 << len(blocks)) - 1))


def _bits(has: np.ndarray) -> np.ndarray:
    """``(N,)`` int64: rows of ``(N, B)`` bools as bit masks (bit ``b`` set where column ``b`` is true)."""
    return (has * (1 << np.arange(has.shape[1]))).sum(axis=1).astype(np.int64)


def pair_groups(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The kind of each pair ``(P,)`` int: the blocks both songs have (``left``, ``right``: ``(P, B)``
    :func:`block_presence` rows), as a bit mask (bit ``b`` set when both have block ``b``). The ranking
    score of a pair is the weighted sum of the cosines of those blocks only, so each kind has a scale of
    its own: fused's pairs of two songs with both modalities, pairs that share the audio only, the lyrics
    only, or nothing."""
    return _bits(np.asarray(left, dtype=bool) & np.asarray(right, dtype=bool))


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
        cal["groups"] = {}
        for g, n in zip(kinds, counts):
            if n >= CAL_MIN_GROUP:
                m = groups == g
                cal["groups"][str(int(g))] = fit_isotonic(raw[m], y[m]) | {"pairs": int(n)}
    return cal


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


class MonotoneMap:
    """One calibration map made ready to apply: the knots of :func:`calibration_knots` and the scales of
    its two tails, computed once (serving applies a map on every query; ``None``: no calibration, the raw
    scores clipped to [0, 1])."""

    def __init__(self, cal: dict[str, list[float]] | None):
        self.kx = self.ky = None
        if not cal or not cal.get("x"):
            return
        kx, ky = calibration_knots(cal)
        if len(kx) == 1:  # one block: nothing to order by; a slope of 1 through it
            slope_lo = slope_hi = 1.0
        else:
            slope_lo = (ky[1] - ky[0]) / max(kx[1] - kx[0], 1e-12)
            slope_hi = (ky[-1] - ky[-2]) / max(kx[-1] - kx[-2], 1e-12)
        # y0 exp((x - x0) / h): value y0 at x0, tending to 0; h = y0 / s keeps the end segment's slope s, unless
        # that would leave the tail flat in floating point within a few hundredths (h at least TAIL_SCALE)
        self.h_lo = max(ky[0] / slope_lo, TAIL_SCALE)
        self.gap = 1.0 - ky[-1]  # 1 - gap exp(-(x - xn) / h): value yn at xn, tending to 1; h likewise
        self.h_hi = max(self.gap / slope_hi, TAIL_SCALE)
        self.kx, self.ky = kx, ky

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if self.kx is None:
            return np.clip(raw, 0.0, 1.0)
        kx, ky = self.kx, self.ky
        out = np.interp(raw, kx, ky)
        lo, hi = raw < kx[0], raw > kx[-1]
        out[lo] = ky[0] * np.exp((raw[lo] - kx[0]) / self.h_lo)
        out[hi] = 1.0 - self.gap * np.exp(-(raw[hi] - kx[-1]) / self.h_hi)
        return np.clip(out, 0.0, 1.0)


def apply_calibration(raw: np.ndarray, cal: dict[str, list[float]] | None) -> np.ndarray:
    """Calibrated scores of raw ranking scores, strictly increasing in them (no two different ranking
    scores share a calibrated score, up to floating point; an isotonic step function would tie whole
    blocks): piecewise linear through :func:`calibration_knots`, and beyond the first and last knots an
    exponential tail that leaves them with the end segments' slopes (or gentler) and tends to 0 and 1, so
    the scores stay in [0, 1]. Without a calibration, the raw scores clipped to [0, 1]."""
    return MonotoneMap(cal)(raw)


class Calibrator:
    """A stored calibration (:func:`fit_calibration`) made ready to apply: the pooled map and each kind's
    own map, their knots computed once."""

    def __init__(self, cal: dict | None):
        self.pooled = MonotoneMap(cal)
        self.by_kind = {int(g): MonotoneMap(m) for g, m in ((cal or {}).get("groups") or {}).items()}

    def __call__(self, raw: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        """The map of each pair's kind (``groups``: :func:`pair_groups`) where there is one, the pooled map
        elsewhere (and for a calibration fitted before kinds)."""
        raw = np.asarray(raw, dtype=np.float64)
        if groups is None or not self.by_kind:
            return self.pooled(raw)
        groups = np.asarray(groups)
        out = np.empty_like(raw)
        pooled = np.ones(len(raw), dtype=bool)  # the pairs of a kind without a map of its own
        for g in np.unique(groups):
            own = self.by_kind.get(int(g))
            if own is not None:
                m = groups == g
                out[m] = own(raw[m])
                pooled &= ~m
        out[pooled] = self.pooled(raw[pooled])
        return out


def calibrate_pairs(raw: np.ndarray, cal: dict | None, groups: np.ndarray | None) -> np.ndarray:
    """:class:`Calibrator` applied once: each pair through its kind's map where the calibration has one,
    the pooled map elsewhere."""
    return Calibrator(cal)(raw, groups)


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
