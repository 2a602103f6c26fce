"""Under torchrun the training data is held once per machine: local rank 0 loads and writes it, every
local rank memory-maps the same files."""

import numpy as np
import pytest

from songsim.learn import shared
from tests.helpers import random_pairs, random_songs


def _load(calls):
    def load():
        calls.append(1)
        songs = random_songs(n=30)
        return songs, {"train": random_pairs(n_songs=30), "val": random_pairs(n_pairs=50, n_songs=30, seed=3)}
    return load


def test_without_torchrun_it_is_just_the_load(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    calls = []
    songs, pairs = shared.training_data(_load(calls), "m")
    assert calls == [1] and not isinstance(songs.tokens, np.memmap)


def test_local_ranks_map_one_copy_written_by_local_rank_0(monkeypatch, tmp_path):
    monkeypatch.setenv("SONGSIM_SHARED_DIR", str(tmp_path))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "t1")
    want_songs, want_pairs = _load([])()
    calls = []
    got = {}
    for local_rank in ("0", "1"):  # rank 0 first: it writes; rank 1 finds the marker and maps
        monkeypatch.setenv("LOCAL_RANK", local_rank)
        got[local_rank] = shared.training_data(_load(calls), "fused", timeout=5)
    assert calls == [1]  # loaded once for the machine
    for songs, pairs in got.values():
        assert songs.track_ids == want_songs.track_ids
        for f in ("tokens", "lengths", "audio"):
            a = getattr(songs, f)
            assert isinstance(a, np.memmap) and np.array_equal(a, getattr(want_songs, f))
        for name in ("train", "val"):
            for f in ("src", "tgt", "score", "label", "labelled"):
                a = getattr(pairs[name], f)
                assert isinstance(a, np.memmap) and np.array_equal(a, getattr(want_pairs[name], f))
    assert got["0"][0].tokens.filename == got["1"][0].tokens.filename  # the same file, mapped twice
    monkeypatch.setenv("LOCAL_RANK", "1")
    shared.release("fused")  # only local rank 0 removes it
    assert shared.shared_dir("fused").exists()
    monkeypatch.setenv("LOCAL_RANK", "0")
    shared.release("fused")
    assert not shared.shared_dir("fused").exists()
    assert np.array_equal(got["1"][0].audio, want_songs.audio)  # still readable once removed


def test_a_rank_waiting_for_data_that_never_comes_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("SONGSIM_SHARED_DIR", str(tmp_path))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(TimeoutError, match="local rank 0 failed"):
        shared.training_data(_load([]), "m", timeout=0.3)
