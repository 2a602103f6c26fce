"""Pairs in memory: integer rows into the song table, 14 bytes per pair, no Python object per pair."""

import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from songsim.core import schemas
from songsim.learn.data import SongTable, load_pairs, split_track_ids


def _split_file(path, n_pairs: int, n_songs: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    ids = [f"TR{k:016d}" for k in range(n_songs)]
    src, tgt = rng.integers(0, n_songs, (2, n_pairs))
    score = rng.random(n_pairs).astype(np.float32)
    t = pa.table({"src": pa.array(np.array(ids)[src]), "tgt": pa.array(np.array(ids)[tgt]), "score": score,
                  "label": (score >= 0.5).astype(np.int8), "labelled": rng.random(n_pairs) < 0.7},
                 schema=schemas.SPLIT)
    pq.write_table(t, path)
    return ids


def test_pairs_are_rows_of_the_song_table(tmp_path):
    ids = _split_file(tmp_path / "train.parquet", 500, 40)
    songs = SongTable(ids, None, None, None)
    p = load_pairs(tmp_path / "train.parquet", songs)
    t = pq.read_table(tmp_path / "train.parquet")
    assert songs.ids(p.src).tolist() == t.column("src").to_pylist()
    assert songs.ids(p.tgt).tolist() == t.column("tgt").to_pylist()
    assert p.src.dtype == np.int32 and p.label.dtype == np.int8 and p.labelled.dtype == bool
    assert p.nbytes == 14 * len(p)
    np.testing.assert_array_equal(p.score, t.column("score").to_numpy())
    assert split_track_ids(tmp_path / "train.parquet") == set(t.column("src").to_pylist() + t.column("tgt").to_pylist())


def test_loading_costs_bytes_per_pair_not_objects(tmp_path):
    """Python-allocated memory while loading 200k pairs: arrays only (a string per pair would be ~70 bytes)."""
    n = 200_000
    ids = _split_file(tmp_path / "train.parquet", n, 2000)
    songs = SongTable(ids, None, None, None)
    tracemalloc.start()
    try:
        p = load_pairs(tmp_path / "train.parquet", songs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(p) == n
    assert peak / n < 40, f"{peak / n:.0f} bytes per pair"


def test_unknown_track_names_the_file_and_the_track(tmp_path):
    ids = _split_file(tmp_path / "val.parquet", 50, 10)
    with pytest.raises(KeyError, match=r"val\.parquet: track TR.* has no song inputs"):
        load_pairs(tmp_path / "val.parquet", SongTable(ids[:5], None, None, None))


def test_lyrics_arrays_reads_the_whole_bag_most_frequent_words_first(tmp_path):
    """bag_words > 0: every distinct word of the song with its count (not expand_lyrics' truncated
    sequence), most frequent first, ties in vocabulary order, cut at bag_words; the width follows the
    longest bag kept."""
    from songsim.learn.data import load_songs, lyrics_arrays

    t = pa.table({"track_id": ["TRA", "TRB", "TRC"],
                  "tokens": pa.array([[1, 2, 0], [3, 3, 3], [4, 0, 0]], pa.list_(pa.int16())),
                  "length": pa.array([2, 3, 1], pa.int32()),
                  "word_ids": pa.array([[1, 2, 9, 11], [3], [4, 5]], pa.list_(pa.int16())),
                  "counts": pa.array([[1, 5, 1, 2], [40, ], [1, 1]], pa.list_(pa.int32()))})
    tok, n, cnt = lyrics_arrays(t, np.array([0, 1, 2]), bag_words=256)
    assert tok.tolist() == [[2, 11, 1, 9], [3, 0, 0, 0], [4, 5, 0, 0]]
    assert cnt.tolist() == [[5, 2, 1, 1], [40, 0, 0, 0], [1, 1, 0, 0]] and cnt.dtype == np.int16
    assert n.tolist() == [4, 1, 2]
    tok, n, cnt = lyrics_arrays(t, np.array([2, 0]), bag_words=2)  # rows in any order; the cap keeps the top words
    assert tok.tolist() == [[4, 5], [2, 11]] and cnt.tolist() == [[1, 1], [5, 2]] and n.tolist() == [2, 2]
    for chunk in (1, 2):  # sorted a few songs at a time: the same arrays as all at once
        got = lyrics_arrays(t, np.array([2, 0, 1]), bag_words=3, chunk=chunk)
        want = lyrics_arrays(t, np.array([2, 0, 1]), bag_words=3)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
        assert got[0].tolist() == [[4, 5, 0], [2, 11, 1], [3, 0, 0]]
    tok, n, cnt = lyrics_arrays(t, np.array([1]))  # bag_words 0: the token sequence, no counts
    assert tok.tolist() == [[3, 3, 3]] and n.tolist() == [3] and cnt is None
    pq.write_table(t, tmp_path / "lyrics.parquet")
    songs = load_songs({"TRC", "TRA"}, tmp_path / "lyrics.parquet", None, bag_words=8)
    assert songs.track_ids == ["TRA", "TRC"] and songs.tokens.tolist() == [[2, 11, 1, 9], [4, 5, 0, 0]]
    assert songs.counts.tolist() == [[5, 2, 1, 1], [1, 1, 0, 0]]
