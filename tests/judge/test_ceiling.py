"""Modality ceilings: a perfect reader of the visible latent factors, and nothing beyond them."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from songsim.core.schemas import latent_schema
from songsim.judge.ceiling import LatentTable, ceiling_predictions, ceiling_share, visible_parts

D = 4


def _world(tmp_path, n=300, seed=0):
    """A latent table and pairs whose score depends on the *audio* factors only."""
    rng = np.random.default_rng(seed)
    ids = [f"TR{k:05d}" for k in range(n)]
    z = {p: rng.normal(size=(n, D)).astype(np.float32) for p in ("shared", "lyrics", "audio")}
    for v in z.values():
        v /= np.linalg.norm(v, axis=1, keepdims=True)
    level = rng.normal(size=(n, 3)).astype(np.float32)
    cols = {"track_id": ids, **{p: pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), D) for p, v in z.items()},
            "level": pa.FixedSizeListArray.from_arrays(pa.array(level.ravel()), 3)}
    path = tmp_path / "latent.parquet"
    pq.write_table(pa.table(cols, schema=latent_schema(D)), path)
    i, j = rng.integers(0, n, size=(2, 6000))
    score = np.clip((z["audio"][i] * z["audio"][j]).sum(1), 0, 1)  # audio-private similarity
    return path, i, j, score


def test_ceiling_reads_what_the_modality_sees_and_nothing_more(tmp_path):
    path, src, tgt, y = _world(tmp_path)  # rows of the table (all tracks kept, in file order)
    latent = LatentTable(path)
    tr, te = slice(0, 5000), slice(5000, None)
    median_mae = np.abs(np.median(y[tr]) - y[te]).mean()
    maes = {}
    for name, parts in (("lyrics", visible_parts(True, False)), ("audio", visible_parts(False, True))):
        p = ceiling_predictions(latent, parts, "regression", src[tr], tgt[tr], y[tr], src[te], tgt[te])
        maes[name] = np.abs(p - y[te]).mean()
    assert maes["audio"] < 0.3 * median_mae  # the audio factors decide the score: near-perfect
    assert maes["lyrics"] > 0.9 * median_mae  # the lyrics factors know nothing of it


def test_classification_ceiling_gives_probabilities(tmp_path):
    path, src, tgt, y = _world(tmp_path)
    lab = (y > 0.3).astype(int)
    p = ceiling_predictions(LatentTable(path), ("shared", "audio"), "classification", src[:5000], tgt[:5000],
                            lab[:5000], src[5000:], tgt[5000:])
    assert ((p >= 0) & (p <= 1)).all()
    assert ((p >= 0.5) == lab[5000:]).mean() > 0.9


def test_pair_features_are_symmetric(tmp_path):
    path, src, tgt, _ = _world(tmp_path)
    latent = LatentTable(path)
    parts = ("shared", "lyrics", "audio")
    assert np.allclose(latent.pair_features(src[:50], tgt[:50], parts), latent.pair_features(tgt[:50], src[:50], parts))


def test_rows_follow_the_kept_tracks(tmp_path):
    path, *_ = _world(tmp_path)
    latent = LatentTable(path, {"TR00007", "TR00002"})
    assert latent.rows(["TR00007", "TR00002"]).tolist() == [1, 0]  # file order among the kept tracks


def test_unknown_track_names_the_file_and_the_track(tmp_path):
    path, *_ = _world(tmp_path)
    latent = LatentTable(path, {"TR00001", "TR00002"})  # rows kept for these only
    with pytest.raises(KeyError, match=r"latent\.parquet.*TR00003"):
        latent.rows(["TR00001", "TR00003"])


def test_ceiling_share():
    assert ceiling_share(0.08, 0.10, 0.06) == pytest.approx(0.5)  # MAE: half way from the median to the ceiling
    assert ceiling_share(0.75, 0.70, 0.80) == pytest.approx(0.5)  # accuracy: same arithmetic, other direction
    assert ceiling_share(0.1, 0.1, 0.1) is None


def test_ceiling_defaults_are_the_evaluations_and_fewer_rounds_fit_worse(tmp_path):
    path, src, tgt, y = _world(tmp_path)
    latent, parts = LatentTable(path), visible_parts(False, True)
    lab = (y > 0.3).astype(int)
    fit, test = slice(0, 5000), slice(5000, None)
    args = (latent, parts, "classification", src[fit], tgt[fit], lab[fit], src[test], tgt[test])
    evaluation = ceiling_predictions(*args)
    np.testing.assert_allclose(ceiling_predictions(*args, rounds=300, learning_rate=0.1), evaluation)
    few = ceiling_predictions(*args, rounds=2, learning_rate=0.1)

    def log_loss(p):
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return -np.mean(lab[test] * np.log(p) + (1 - lab[test]) * np.log(1 - p))

    assert log_loss(evaluation) < 0.7 * log_loss(few)
