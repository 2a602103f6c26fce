"""Batch planning (seeded order, swaps, rank shards) and the song store (resident and streamed alike)."""

import numpy as np
import pytest
import torch

from songsim.learn.batches import SongStore, epoch_passes, make_batch, plan_epoch, step_for, steps_in_pass
from tests.helpers import random_pairs as _pairs
from tests.helpers import random_songs as _songs


@pytest.mark.parametrize("world", [1, 2, 3])
def test_rank_shards_are_disjoint_and_cover_the_epoch(world):
    pairs = _pairs()
    per_rank = [list(plan_epoch(pairs, 32, True, np.random.default_rng([0, 4]), r, world)) for r in range(world)]
    assert len({len(steps) for steps in per_rank}) == 1  # every rank takes the same number of steps
    rows = np.concatenate([s.rows for steps in per_rank for s in steps])
    assert len(rows) == len(set(rows.tolist())) == len(pairs)  # disjoint, every pair once (203 = 6*32 + 11)
    for k in range(len(per_rank[0])):  # the global batch is the params' batch size, split evenly
        sizes = [len(per_rank[r][k].rows) for r in range(world)]
        assert sum(sizes) == per_rank[0][k].n_global and max(sizes) - min(sizes) <= 1


def test_one_rank_repeats_the_single_process_draws():
    pairs = _pairs()
    a = list(plan_epoch(pairs, 50, False, np.random.default_rng([3, 1])))
    rng = np.random.default_rng([3, 1])
    order = rng.permutation(len(pairs))
    for k, s in enumerate(a):
        rows = order[50 * k:50 * (k + 1)]
        swap = rng.random(len(rows)) < 0.5
        src = np.where(swap, pairs.tgt[rows], pairs.src[rows])
        assert (s.rows == rows).all() and (s.songs[s.left] == src).all()


def test_a_batch_too_small_for_every_rank_is_skipped_by_all():
    pairs = _pairs(n_pairs=67)  # 2 full batches of 32 + 3 pairs: fewer than 2 per rank for 2 ranks
    for r in range(2):
        steps = list(plan_epoch(pairs, 32, True, np.random.default_rng(0), r, 2))
        assert [s.n_global for s in steps] == [32, 32]


@pytest.mark.parametrize("dedup", [True, False])
def test_resident_and_streamed_stores_give_the_same_inputs(dedup):
    songs, pairs = _songs(), _pairs()
    step = next(plan_epoch(pairs, 40, dedup, np.random.default_rng(2)))
    res, stream = SongStore(songs, torch.device("cpu")), SongStore(songs, torch.device("cpu"), resident_mb=0)
    assert res.resident and not stream.resident
    (a, rows_a), (b, rows_b) = res.batch(step), stream.batch(step)
    assert torch.equal(rows_a, rows_b)
    assert a.keys() == b.keys() == {"tokens", "lengths", "audio", "left", "right"}
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert torch.equal(rows_a, torch.from_numpy(step.rows))
    # the songs the pairs point at are the pairs' songs; the width is the longest song's
    assert torch.equal(a["audio"][a["left"]], torch.from_numpy(songs.audio[np.where(
        step.songs[step.left] == pairs.src[step.rows], pairs.src[step.rows], pairs.tgt[step.rows])]))
    assert a["tokens"].shape[1] == songs.lengths[step.songs].max() and a["lengths"].device.type == "cpu"


def test_width_multiple_rounds_up_but_never_past_the_table():
    songs = _songs(length=12)
    songs.lengths[:] = 5
    store = SongStore(songs, torch.device("cpu"), width_multiple=8)
    assert store.tensors(np.arange(4))["tokens"].shape == (4, 8)
    songs.lengths[0] = 11
    assert store.tensors(np.arange(4))["tokens"].shape == (4, 12)


def test_make_batch_dedup_encodes_each_song_once():
    songs = _songs()
    b = make_batch(songs, np.array([1, 2, 1]), np.array([2, 3, 3]), dedup=True)
    assert b["audio"].shape[0] == 3 and b["left"].tolist() == [0, 1, 0] and b["right"].tolist() == [1, 2, 2]
    b = make_batch(songs, np.array([1, 2, 1]), np.array([2, 3, 3]), dedup=False)
    assert b["audio"].shape[0] == 6
    assert step_for(np.arange(2), np.array([4, 4]), np.array([4, 4]), True, 2).songs.tolist() == [4]


@pytest.mark.parametrize(("per_pass", "floor", "passes"), [(41, 0, 1), (41, 20, 1), (41, 41, 1), (8, 20, 3),
                                                             (8, 24, 3), (1, 20, 20), (0, 5, 5)])
def test_an_epoch_passes_over_a_small_training_set_until_it_has_its_steps(per_pass, floor, passes):
    assert epoch_passes(per_pass, floor) == passes
    assert per_pass == 0 or passes * per_pass >= floor


@pytest.mark.parametrize(("n", "world"), [(65, 1), (66, 1), (64, 1), (129, 2), (131, 2), (133, 2)])
def test_steps_in_pass_counts_what_plan_epoch_yields(n, world):
    pairs = _pairs(n, 50)
    planned = len(list(plan_epoch(pairs, 64, True, np.random.default_rng(1), 0, world)))
    assert steps_in_pass(n, 64, world) == planned
