"""Ranking baselines' lyrics side: the bags read once (read_bags), TF-IDF rows fitted on the training songs."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from songsim.judge.baselines import read_bags, tfidf_rows


@pytest.fixture
def lyrics(tmp_path):
    t = pa.table({"track_id": ["TRA", "TRB", "TRC"],
                  "word_ids": pa.array([[1, 2], [2, 3], [1]], pa.list_(pa.int16())),
                  "counts": pa.array([[4, 1], [2, 2], [7]], pa.list_(pa.int32()))})
    pq.write_table(t, tmp_path / "lyrics.parquet")
    return tmp_path / "lyrics.parquet"


def test_read_bags_maps_each_track_to_its_csr_row(lyrics):
    pos, indptr, cols, vals = read_bags(lyrics, ["TRC", "TRA"])
    assert set(pos) == {"TRA", "TRC"}
    a, c = pos["TRA"], pos["TRC"]
    assert cols[indptr[a]:indptr[a + 1]].tolist() == [1, 2] and vals[indptr[a]:indptr[a + 1]].tolist() == [4.0, 1.0]
    assert cols[indptr[c]:indptr[c + 1]].tolist() == [1] and vals[indptr[c]:indptr[c + 1]].tolist() == [7.0]


def test_read_bags_names_the_file_and_a_track_without_lyrics(lyrics):
    with pytest.raises(KeyError, match=r"lyrics\.parquet: 1 track\(s\) have no lyrics, e\.g\. TRZ"):
        read_bags(lyrics, ["TRA", "TRZ"])
    pos = read_bags(lyrics, ["TRA", "TRZ"], missing_ok=True)[0]
    assert set(pos) == {"TRA"}


def test_tfidf_rows_of_a_song_without_lyrics_are_zero(lyrics):
    """The audio and catalog sets hold songs without lyrics: TF-IDF cannot see them (every cosine 0)."""
    m = tfidf_rows(lyrics, {"TRA", "TRZ"}, ["TRZ", "TRA", "TRY"]).toarray()
    assert m.shape[0] == 3 and not m[0].any() and not m[2].any()
    np.testing.assert_allclose(np.linalg.norm(m[1]), 1.0)
    np.testing.assert_allclose(m[1], tfidf_rows(lyrics, {"TRA"}, ["TRA"]).toarray()[0])


def test_tfidf_rows_follow_the_asked_order_and_the_fit_songs_document_frequencies(lyrics):
    m = tfidf_rows(lyrics, {"TRA", "TRB"}, ["TRC", "TRA"]).toarray()
    assert m.shape[0] == 2
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0)
    assert m[0, 1] == pytest.approx(1.0)  # TRC: one word, its row is that word alone
    # word 2 is in both fit songs, word 1 in one: with equal raw counts word 1 would weigh more; TRA has 4:1
    assert m[1, 1] > m[1, 2] > 0
    # TRC's bag is not in the fit set: fitting on TRA, TRB only gives word 1 the idf of one song in two
    m2 = tfidf_rows(lyrics, {"TRA", "TRB", "TRC"}, ["TRA"]).toarray()
    assert m2[0, 1] / m2[0, 2] < m[1, 1] / m[1, 2]  # word 1 now in 2 of 3 fit songs: less rare


def test_pair_cosines_in_blocks_are_the_one_gather_values_bit_for_bit():
    """Sparse (TF-IDF) and dense (mean audio) song matrices: blocks of pairs give every pair's cosine exactly
    as gathering all pairs at once did, including a last, shorter block and an empty pair set."""
    from scipy import sparse

    from songsim.core.metrics import row_cosine
    from songsim.judge.baselines import pair_cosines
    from tests.helpers import random_pairs

    rng = np.random.default_rng(0)
    m = sparse.random(40, 300, density=0.2, format="csr", random_state=1)
    m = sparse.diags(1 / np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())) @ m
    d = rng.normal(size=(40, 24)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pairs, empty = random_pairs(n_pairs=1003, n_songs=40), random_pairs(n_pairs=0, n_songs=40)
    for mat in (m, d):
        whole = row_cosine(mat[pairs.src], mat[pairs.tgt])
        got, none = pair_cosines(mat, [pairs, empty], block=64)
        assert got.dtype == whole.dtype and got.tobytes() == whole.tobytes()
        assert len(none) == 0
