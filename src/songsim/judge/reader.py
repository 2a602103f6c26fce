"""Reader references: what a plain reader of a model's *observed* inputs reaches on a synthetic world.

The modality ceiling (``judge.ceiling``) is given a world's latent factors themselves: it is an upper
bound on any model of that modality. The words (or the audio frames) are a noisy draw from those factors,
so the ceiling can sit above anything a reader of the inputs can reach. A reader reference is a function
of the inputs alone, so it is a level that *can* be reached: a ridge regression from simple song features
(lyrics: the song's bag of words, square-root term frequencies, L1-normalised, or the mean GloVe vector of
those words, so weighted; audio: each of the 24 timbre/chroma channels' mean and standard deviation over the
frames) to the song's visible latent factors
and score levels, taught on the training songs (the teacher is the world's latent file, the reader sees
only the inputs), then the ceiling's own pair model (gradient boosting on the same symmetric pair features,
fitted on the model's training pairs with its loss) on the estimated factors. Between the reference and
the ceiling lies what is unknown: a better reader of the inputs may get closer to the ceiling, none past it.

A third reader of the words knows how they were drawn (:func:`likelihood_features`): given the world's
word model (a log-linear model of the song's factors) it estimates each song's factors by maximum a
posteriori. No model of real words knows such a model, so this is a strong reader; still not a bound,
since a model trained end to end on the pairs is not limited to reading the factors first.

Used by ``scripts/reader_reference.py``; not a pipeline stage (real data has no latent factors).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import RidgeCV

from songsim.judge.baselines import read_bags
from songsim.judge.ceiling import LEVEL, LatentTable, ceiling_predictions, visible_parts
from songsim.learn.data import PairData, SongTable

log = logging.getLogger(__name__)

ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # ridge penalties, chosen by leave-one-out on the fit songs


def lyrics_features(lyrics_path: str | Path, track_ids: list[str]) -> sp.csr_matrix:
    """``(S, V)`` rows of the songs' bags, in the order of ``track_ids``: square-root counts, each row
    summing to 1 (a song's word distribution, its choruses damped)."""
    pos, indptr, cols, vals = read_bags(lyrics_path, track_ids)
    m = sp.csr_matrix((np.sqrt(vals), cols, indptr), shape=(len(pos), int(cols.max()) + 1 if len(cols) else 1))
    m = sp.diags(1.0 / np.maximum(np.asarray(m.sum(axis=1)).ravel(), 1e-12)) @ m
    return m[[pos[x] for x in track_ids]].tocsr()


def glove_features(bags: sp.csr_matrix, vectors: np.ndarray) -> np.ndarray:
    """``(S, E)``: each song's mean word vector, from its row of ``bags`` (:func:`lyrics_features`: the words
    weighted by square-root counts, summing to 1); ``vectors`` ``(V + 1, E)`` has word ``i``'s vector in row
    ``i`` (GloVe as the lyrics encoders are initialised with it, row 0 the padding). A second reader of the
    words: 50 numbers per song instead of a 5,000-word bag, so far less for the ridge to fit."""
    if bags.shape[1] > len(vectors):
        raise ValueError(f"bags hold word ids up to {bags.shape[1] - 1} but there are {len(vectors) - 1} word "
                         f"vectors")
    return np.asarray(bags @ vectors[:bags.shape[1]], dtype=np.float32)


def likelihood_features(bags: sp.csr_matrix, word_logit: np.ndarray, word_factors: np.ndarray,
                        blocks: tuple[int, ...], chunk: int = 1024) -> np.ndarray:
    """``(S, K)``: each song's latent factors as the words' own model estimates them (maximum a posteriori).

    The model: a song with factors ``z`` (K numbers, parts of widths ``blocks``, each a unit vector) draws
    each word ``w`` with probability proportional to ``exp(word_logit[w] + word_factors[w] . z)``; rows of
    ``word_factors`` ``(V, K)`` and ``word_logit`` ``(V,)`` are word ids 1..V (``bags`` ``(S, >= V + 1)``,
    column 0 unused). A song's distinct words count as its draws (repeats of a word add no evidence
    about ``z`` when, as in the world, a song repeats the words it has drawn). The prior is normal with
    the unit parts' second moment (variance 1 / width per coordinate). Each part of the estimate is then
    unit-normalised, as the factors are. Songs are solved ``chunk`` at a time (Newton's method), so
    memory is ``chunk x V``."""
    v, k = word_factors.shape
    if bags.shape[1] > v + 1 or len(word_logit) != v or sum(blocks) != k:
        raise ValueError(f"bags hold word ids up to {bags.shape[1] - 1}, the word model has {v} words and "
                         f"{len(word_logit)} logits; parts {blocks} must sum to its {k} factors")
    present = bags.tocsr().copy()
    present.data = (present.data > 0).astype(np.float64)
    present.resize((bags.shape[0], v + 1))
    logit, factors = np.asarray(word_logit, dtype=np.float64), np.asarray(word_factors, dtype=np.float64)
    precision = np.concatenate([np.full(b, float(b)) for b in blocks])  # (K,)
    out = np.zeros((bags.shape[0], k), dtype=np.float32)
    for start in range(0, bags.shape[0], chunk):
        z_hat, first = _map_factors(present[start:start + chunk, 1:].toarray(), logit, factors, precision), 0
        for b in blocks:
            part = z_hat[:, first:first + b]
            out[start:start + len(z_hat), first:first + b] = part / np.maximum(
                np.linalg.norm(part, axis=1, keepdims=True), 1e-12)
            first += b
    return out


def _map_factors(draws: np.ndarray, logit: np.ndarray, factors: np.ndarray, precision: np.ndarray,
                 steps: int = 50) -> np.ndarray:
    """``(C, K)`` maximum a posteriori factors of ``C`` songs' word draws ``(C, V)``: Newton's method on
    each song's log posterior (concave: a log-linear likelihood and a normal prior), step halved until
    the posterior rises."""
    n = draws.sum(axis=1)  # (C,) draws per song
    evidence = draws @ factors  # (C, K): the sufficient statistic
    outer = (factors[:, :, None] * factors[:, None, :]).reshape(len(factors), -1)  # (V, K * K)
    k = factors.shape[1]

    def log_post(z):  # (C, K) -> (C,), and the word probabilities (C, V)
        a = logit + z @ factors.T
        top = a.max(axis=1, keepdims=True)
        e = np.exp(a - top)
        total = e.sum(axis=1, keepdims=True)
        value = (evidence * z).sum(1) - n * (top[:, 0] + np.log(total[:, 0])) - 0.5 * (precision * z**2).sum(1)
        return value, e / total

    z = np.zeros((len(draws), k))
    value, p = log_post(z)
    for _ in range(steps):
        mean = p @ factors  # (C, K): expected factors of one draw
        grad = evidence - n[:, None] * mean - precision * z
        cov = (p @ outer).reshape(-1, k, k) - mean[:, :, None] * mean[:, None, :]
        hess = n[:, None, None] * cov + np.diag(precision)  # minus the Hessian: positive definite
        step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        t = np.ones(len(z))
        for _ in range(30):  # halve each song's step until its posterior does not fall
            new_value, new_p = log_post(z + t[:, None] * step)
            worse = new_value < value - 1e-12
            if not worse.any():
                break
            t[worse] /= 2
        z = z + t[:, None] * step
        value, p = new_value, new_p
        if np.abs(t[:, None] * step).max() < 1e-9:
            break
    return z


def audio_features(audio: np.ndarray) -> np.ndarray:
    """``(S, 48)``: each channel's mean and standard deviation over the frames of ``audio`` ``(S, 24, T)``."""
    a = audio.astype(np.float32)
    return np.concatenate([a.mean(axis=2), a.std(axis=2)], axis=1)


def estimated_latent(latent: LatentTable, rows: np.ndarray, features, fit: np.ndarray,
                     parts: tuple[str, ...]) -> LatentTable:
    """The latent factors of ``parts`` (and their score-level columns) as a ridge regression of
    ``features`` (one row per song) estimates them, taught on the songs ``fit`` (song rows); ``rows`` maps
    song rows to ``latent`` rows. Returns a table whose rows are song rows."""
    target_parts = {p: latent.parts[p][rows] for p in parts}
    level_cols = [LEVEL[p] for p in parts]
    y = np.concatenate([*target_parts.values(), latent.parts["level"][rows][:, level_cols]], axis=1)
    x = features
    if not sp.issparse(x):  # dense features: standardise on the fit songs
        mu, sd = x[fit].mean(axis=0), x[fit].std(axis=0) + 1e-6
        x = (x - mu) / sd
    model = RidgeCV(alphas=ALPHAS).fit(x[fit], y[fit])
    est = model.predict(x).astype(np.float32)
    log.info("reader: ridge alpha %g on %d fit songs", model.alpha_, len(fit))
    out, start = {}, 0
    for p, v in target_parts.items():
        out[p] = est[:, start:start + v.shape[1]]
        start += v.shape[1]
    level = np.zeros((len(rows), len(LEVEL)), dtype=np.float32)
    level[:, level_cols] = est[:, start:]
    out["level"] = level
    return LatentTable.from_parts(out)


def reader_reference(latent_path: str | Path, songs: SongTable, features, uses_lyrics: bool, uses_audio: bool,
                     task: str, train: PairData, test: PairData, seed: int = 0) -> np.ndarray:
    """Test predictions of the reader reference of a model whose inputs are ``features`` (one row per song
    of ``songs``; pairs are rows of ``songs``): the reader is taught on the songs of ``train``."""
    latent = LatentTable(latent_path, set(songs.track_ids))
    rows = latent.rows(songs.track_ids)
    parts = visible_parts(uses_lyrics, uses_audio)
    fit = np.unique(np.concatenate([train.src, train.tgt]))
    est = estimated_latent(latent, rows, features, fit, parts)
    y = train.label if task == "classification" else train.score
    return ceiling_predictions(est, parts, task, train.src, train.tgt, y, test.src, test.tgt, seed)

