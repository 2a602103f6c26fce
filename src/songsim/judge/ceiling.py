"""Modality ceilings: how well a perfect reader of one modality could predict the Last.fm score.

On a synthetic world, lyrics are drawn from a song's *shared* and *lyrics* latent factors only, and audio
from its *shared* and *audio* factors only (``synth.world``). Given those factors of both songs, the words
(or the audio) carry no further information about the score, so no lyrics model can do better than the
best predictor of the score from the shared and lyrics factors: that is the lyrics ceiling (the audio and
fused ceilings likewise). The ceiling is estimated by gradient boosting on symmetric pair features of
those factors (the cosine of each part, the two songs' score-level projections, elementwise products,
absolute differences and sums), fitted on the model's own training pairs with the model's own loss (L1
for the regressors, log-loss for the classifier) and scored on its test pairs. It is an estimate, a
little below the true Bayes optimum (a finite fit), so a model can exceed it by noise, rarely by much.

It says how much of a claim is the model and how much is the world: a lyrics regressor 16% below the
train-median MAE on a world where a perfect lyrics reader would reach 27% has taken 60% of what lyrics
can give there. Real data has no latent factors: ``raw.latent: ""`` and the ceiling is absent.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from songsim.learn.data import PairData, SongTable
from songsim.models.registry import ModelSpec

log = logging.getLogger(__name__)

PARTS = ("shared", "lyrics", "audio")
LEVEL = {p: k for k, p in enumerate(PARTS)}  # column of the part's level projection


def visible_parts(uses_lyrics: bool, uses_audio: bool) -> tuple[str, ...]:
    """The latent parts a model's inputs are generated from."""
    return ("shared",) + (("lyrics",) if uses_lyrics else ()) + (("audio",) if uses_audio else ())


class LatentTable:
    """A world's ``latent.parquet``, read once; rows looked up by track id."""

    def __init__(self, path: str | Path, track_ids: set[str] | None = None):
        t = pq.read_table(path)
        ids = t.column("track_id").to_pylist()
        keep = np.ones(len(ids), dtype=bool) if track_ids is None else np.array([x in track_ids for x in ids])
        self.path = Path(path)
        self.index = {x: k for k, x in enumerate(i for i, m in zip(ids, keep) if m)}
        self.parts = {}
        for p in (*PARTS, "level"):
            col = t.column(p).combine_chunks()
            width = col.type.list_size
            self.parts[p] = col.flatten().to_numpy().reshape(-1, width)[keep].astype(np.float32)

    @classmethod
    def from_parts(cls, parts: dict[str, np.ndarray]) -> LatentTable:
        """A table of given factors (``shared``/``lyrics``/``audio`` as needed, and ``level``), rows by
        position (no track ids): estimated factors (``judge.reader``)."""
        table = cls.__new__(cls)
        table.path, table.index, table.parts = Path("<estimated>"), {}, dict(parts)
        return table

    def rows(self, ids: list[str]) -> np.ndarray:
        missing = [x for x in ids if x not in self.index]
        if missing:
            raise KeyError(f"{self.path}: no latent factors for {len(missing)} track(s), e.g. {missing[0]}: "
                           f"is raw.latent the same world as the splits? (set raw.latent: \"\" for real data)")
        return np.fromiter((self.index[x] for x in ids), dtype=np.int64, count=len(ids))

    def pair_features(self, i: np.ndarray, j: np.ndarray, parts: tuple[str, ...]) -> np.ndarray:
        """``(P, F)`` features of the pairs of latent rows ``i``, ``j`` (see :meth:`rows`), symmetric in
        the two songs."""
        cols = []
        for p in parts:
            a, b = self.parts[p][i], self.parts[p][j]  # (P, D) each
            lv = self.parts["level"][:, LEVEL[p]]
            cols += [(a * b).sum(1, keepdims=True), np.sort(np.stack([lv[i], lv[j]], 1), 1), a * b, np.abs(a - b),
                     a + b]
        return np.concatenate(cols, axis=1)


def ceiling_predictions(latent: LatentTable, parts: tuple[str, ...], task: str, train_src: np.ndarray,
                        train_tgt: np.ndarray, train_y: np.ndarray, test_src: np.ndarray, test_tgt: np.ndarray,
                        seed: int = 0, rounds: int = 300, learning_rate: float = 0.1) -> np.ndarray:
    """Predictions on the test pairs of the best model of the score from ``parts`` (fitted on the train
    pairs; both given as latent rows): scores for ``regression`` (L1, the conditional median),
    probabilities for ``classification``. The evaluation boosts 300 rounds at 0.1; more rounds at a lower
    rate, on more pairs, say how far that estimate is from the best a perfect reader of ``parts`` does."""
    x_train = latent.pair_features(train_src, train_tgt, parts)
    x_test = latent.pair_features(test_src, test_tgt, parts)
    common = {"max_iter": rounds, "learning_rate": learning_rate, "early_stopping": False, "random_state": seed}
    if task == "classification":
        y = np.asarray(train_y).astype(int)
        if len(np.unique(y)) < 2:
            return np.full(len(x_test), float(y[0]) if len(y) else 0.0)
        return HistGradientBoostingClassifier(**common).fit(x_train, y).predict_proba(x_test)[:, 1]
    fit = HistGradientBoostingRegressor(loss="absolute_error", **common).fit(x_train, np.asarray(train_y, float))
    return np.clip(fit.predict(x_test), 0.0, 1.0)


def ceiling_share(model: float, baseline: float, ceiling: float) -> float | None:
    """Share of the way from the trivial baseline to the ceiling that the model went (1 = at the ceiling),
    for a metric where lower or higher is better alike; None when the ceiling does not beat the baseline."""
    room = baseline - ceiling
    if abs(room) < 1e-12:
        return None
    return round((baseline - model) / room, 6)


def model_ceiling(latent_path: str | Path | None, songs: SongTable, spec: ModelSpec, train: PairData,
                  test: PairData, seed: int = 0) -> np.ndarray | None:
    """Test predictions of the ceiling of model ``spec``'s inputs (pairs are rows of ``songs``), or None
    without a world's latent file."""
    if not latent_path or not Path(latent_path).exists():
        return None
    latent = LatentTable(latent_path, set(songs.track_ids))
    row = latent.rows(songs.track_ids)  # song row -> latent row
    parts = visible_parts(spec.uses_lyrics, spec.uses_audio)
    y = train.label if spec.task == "classification" else train.score
    log.info("evaluate %s: modality ceiling from the latent %s factors", spec.name, "+".join(parts))
    return ceiling_predictions(latent, parts, spec.task, row[train.src], row[train.tgt], y, row[test.src],
                               row[test.tgt], seed)


def ceiling_note(spec: ModelSpec) -> dict:
    """What the report says of a model's ceiling."""
    parts = visible_parts(spec.uses_lyrics, spec.uses_audio)
    return {"parts": list(parts),
            "note": f"a perfect reader of {spec.name}'s inputs: gradient boosting on the world's latent "
                    f"{'+'.join(parts)} factors of both songs, fitted on the same train pairs (synthetic world only)"}
