"""Reader references: a reader of the observed inputs, taught by the latent factors, below the ceiling."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from songsim.judge.ceiling import LatentTable, ceiling_predictions, visible_parts
from songsim.judge.reader import (
    audio_features,
    estimated_latent,
    glove_features,
    likelihood_features,
    lyrics_features,
    reader_reference,
)
from songsim.learn.data import PairData, SongTable
from tests.judge.test_ceiling import _world


def _pairs(src, tgt, y) -> PairData:
    return PairData(src.astype(np.int32), tgt.astype(np.int32), y.astype(np.float32), (y > 0.5).astype(np.int8),
                    np.ones(len(y), dtype=bool))


def test_lyrics_features_are_each_songs_word_distribution_in_the_asked_order(tmp_path):
    t = pa.table({"track_id": ["TRA", "TRB"], "word_ids": pa.array([[1, 4], [2]], pa.list_(pa.int16())),
                  "counts": pa.array([[9, 1], [5]], pa.list_(pa.int32()))})
    pq.write_table(t, tmp_path / "lyrics.parquet")
    m = lyrics_features(tmp_path / "lyrics.parquet", ["TRB", "TRA"]).toarray()
    np.testing.assert_allclose(m[0, 2], 1.0)
    np.testing.assert_allclose(m[1, [1, 4]], [0.75, 0.25])  # square-root counts 3 and 1, summing to 1
    with pytest.raises(KeyError, match="TRZ"):
        lyrics_features(tmp_path / "lyrics.parquet", ["TRA", "TRZ"])


def test_audio_features_are_channel_means_and_spreads():
    a = np.zeros((2, 24, 4), dtype=np.float16)
    a[1, 3] = [1, 3, 1, 3]
    f = audio_features(a)
    assert f.shape == (2, 48) and f[1, 3] == 2.0 and f[1, 24 + 3] == 1.0 and not f[0].any()


def test_inputs_that_show_the_factors_exactly_reach_the_ceiling_and_noise_does_not(tmp_path):
    path, src, tgt, y = _world(tmp_path)  # the score is the audio factors' similarity
    latent = LatentTable(path)
    n = len(latent.index)
    songs = SongTable(sorted(latent.index), None, None, None)
    rows = latent.rows(songs.track_ids)
    tr, te = slice(0, 5000), slice(5000, None)
    train, test = _pairs(src[tr], tgt[tr], y[tr]), _pairs(src[te], tgt[te], y[te])
    parts = visible_parts(False, True)
    rng = np.random.default_rng(1)
    mix = rng.normal(size=(8 + 3, 30))
    exact = np.concatenate([latent.parts[p][rows] for p in parts] + [latent.parts["level"][rows]], axis=1) @ mix
    est = estimated_latent(latent, rows, exact, np.arange(n), parts)
    np.testing.assert_allclose(est.parts["audio"], latent.parts["audio"][rows], atol=1e-3)

    def mae(p):
        return np.abs(p - test.score).mean()

    ceiling = ceiling_predictions(latent, parts, "regression", rows[train.src], rows[train.tgt], train.score,
                                  rows[test.src], rows[test.tgt])
    seen = reader_reference(path, songs, exact, False, True, "regression", train, test)
    blind = reader_reference(path, songs, rng.normal(size=(n, 30)), False, True, "regression", train, test)
    median = np.abs(np.median(train.score) - test.score).mean()
    assert mae(seen) == pytest.approx(mae(ceiling), rel=0.05)
    assert mae(blind) > 0.9 * median > mae(seen)


def test_glove_features_are_the_mean_word_vector_weighted_like_the_bag(tmp_path):
    t = pa.table({"track_id": ["TRA", "TRB"], "word_ids": pa.array([[1, 2], [2]], pa.list_(pa.int16())),
                  "counts": pa.array([[9, 1], [4]], pa.list_(pa.int32()))})
    pq.write_table(t, tmp_path / "lyrics.parquet")
    vectors = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=np.float32)  # row 0: padding
    bags = lyrics_features(tmp_path / "lyrics.parquet", ["TRB", "TRA"])
    f = glove_features(bags, vectors)
    np.testing.assert_allclose(f, [[0.0, 2.0], [0.75, 0.5]])  # TRA: weights 3/4 and 1/4 (square-root counts)
    with pytest.raises(ValueError, match="word vectors"):
        glove_features(bags, vectors[:2])


def _word_model(rng, v=4000, blocks=(3, 3), strength=1.0):
    """A log-linear word model like the world's: prior logits falling with rank, word factors (v, K)."""
    return -1.2 * np.log(np.arange(1, v + 1) + 5.0), strength * rng.normal(size=(v, sum(blocks))), blocks


def _draw_songs(rng, logit, factors, blocks, n_songs, draws):
    """Songs with unit-vector parts and ``draws`` words each, as a bag ``(n_songs, v + 1)`` of counts."""
    z = np.concatenate([p / np.linalg.norm(p, axis=1, keepdims=True)
                        for p in (rng.normal(size=(n_songs, b)) for b in blocks)], axis=1)
    p = np.exp(logit + z @ factors.T)
    p /= p.sum(axis=1, keepdims=True)
    counts = np.stack([rng.multinomial(draws, q) for q in p])
    return z, sp.csr_matrix(np.hstack([np.zeros((n_songs, 1)), counts]))


def test_likelihood_features_find_each_parts_direction_and_more_words_say_more():
    rng = np.random.default_rng(0)
    logit, factors, blocks = _word_model(rng)

    def mean_cosine(draws):
        z, bags = _draw_songs(rng, logit, factors, blocks, 60, draws)
        est = likelihood_features(bags, logit, factors, blocks, chunk=25)  # three chunks, the last short
        assert est.shape == z.shape
        np.testing.assert_allclose(np.linalg.norm(est[:, :3], axis=1), 1.0, rtol=1e-5)  # unit parts
        return float(np.mean([(est[:, a:a + 3] * z[:, a:a + 3]).sum(axis=1) for a in (0, 3)]))

    few, many = mean_cosine(3), mean_cosine(300)
    assert many > 0.95 and few < 0.8


def test_likelihood_features_count_distinct_words_and_check_the_model():
    rng = np.random.default_rng(1)
    logit, factors, blocks = _word_model(rng)
    _, bags = _draw_songs(rng, logit, factors, blocks, 5, 50)
    repeated = bags.copy()
    repeated.data = repeated.data * 7  # a chorus repeats the song's words: no new evidence
    np.testing.assert_allclose(likelihood_features(repeated, logit, factors, blocks),
                               likelihood_features(bags, logit, factors, blocks), atol=1e-5)
    with pytest.raises(ValueError, match="must sum"):
        likelihood_features(bags, logit, factors, (3, 2))
    with pytest.raises(ValueError, match="word ids up to"):
        likelihood_features(bags, logit[:100], factors[:100], blocks)
