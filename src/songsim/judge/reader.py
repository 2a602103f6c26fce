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

