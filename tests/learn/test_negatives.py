"""The catalog-scale listwise loss: sampled negatives, log-Q correction, accidental hits."""

from functools import partial

import numpy as np
import pytest
import torch

from songsim.learn.batches import plan_epoch
from songsim.learn.data import PairData
from songsim.learn.loop import listwise_loss
from songsim.learn.negatives import RankSampler, add_negatives


def _pairs() -> PairData:
    # songs 0..9; labelled pairs (0,1) (0,2) (3,4) (5,6) and one sampled negative (7,8)
    src, tgt = np.array([0, 0, 3, 5, 7], np.int32), np.array([1, 2, 4, 6, 8], np.int32)
    score = np.array([0.9, 0.5, 0.7, 0.2, 0.0], np.float32)
    return PairData(src, tgt, score, (score >= 0.1).astype(np.int8), np.array([1, 1, 1, 1, 0], bool))


def test_the_sampler_counts_listing_frequency_and_lists_the_labelled_pairs():
    p = _pairs()
    s = RankSampler.build(p, n_songs=12, batch_size=2, n=3, logq=True, mask_hits=True)
    assert s.pool.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8]  # every song a training pair holds; 9..11 none
    # song 0 is in 2 of the 10 pair slots: 2 x batch 2 x 0.2 = 0.8, plus 3 of 9 uniform draws
    assert np.exp(s.log_q[0]) == pytest.approx(min(1.0, 0.8 + 3 / 9), rel=1e-6)
    assert np.exp(s.log_q[1]) == pytest.approx(0.4 + 3 / 9, rel=1e-6)
    assert s.log_q[9] < -20  # never in a step
    # the adjacency holds labelled pairs both ways, not the sampled negative (7, 8)
    nb = {int(a): s.neighbours[s.indptr[a]:s.indptr[a + 1]].tolist() for a in range(9)}
    assert nb[0] == [1, 2] and nb[1] == [0] and nb[4] == [3] and nb[7] == [] and nb[8] == []


def test_hits_are_positions_of_listed_pairs_in_any_song_order():
    s = RankSampler.build(_pairs(), 12, 2, 0, False, True)
    songs = np.array([4, 0, 9, 3, 2])  # listed among them: (0,2) and (3,4), both ways
    h = s.hits(songs)
    got = {(int(songs[i]), int(songs[j])) for i, j in h.T}
    assert got == {(0, 2), (2, 0), (3, 4), (4, 3)}


def test_add_negatives_keeps_the_pairs_and_draws_alike_on_every_rank():
    p = _pairs()
    s = RankSampler.build(p, 12, 4, n=4, logq=True, mask_hits=True)
    for dedup in (True, False):
        extend = partial(add_negatives, sampler=s, dedup=dedup)
        a = list(plan_epoch(p, 4, dedup, np.random.default_rng(3), 0, 1, extend))
        b = list(plan_epoch(p, 4, dedup, np.random.default_rng(3), 0, 1, extend))
        for x, y in zip(a, b):
            assert np.array_equal(x.songs, y.songs) and np.array_equal(x.hits, y.hits)
        for st in a:
            # each pair's two songs are still the ones the plan drew, and sampled songs are training songs
            assert set(st.songs.tolist()) <= set(s.pool.tolist())
            space = np.unique(st.songs) if len(np.unique(st.songs)) != len(st.songs) else st.songs
            assert st.log_q.shape == (len(space),) and np.allclose(st.log_q, s.log_q[space])
            pair_set = {(int(p.src[r]), int(p.tgt[r])) for r in st.rows}
            got = {tuple(sorted((int(st.songs[i]), int(st.songs[j])))) for i, j in zip(st.left, st.right)}
            assert got == {tuple(sorted(x)) for x in pair_set}
    # without a sampler nothing is drawn: the plan (and a committed run) is what it was
    plain = list(plan_epoch(p, 4, True, np.random.default_rng(3)))
    assert all(st.log_q is None and st.hits is None for st in plain)


def test_add_negatives_with_no_draws_changes_only_the_annotations():
    p = _pairs()
    s = RankSampler.build(p, 12, 4, n=0, logq=True, mask_hits=False)
    step = next(plan_epoch(p, 8, True, np.random.default_rng(0)))
    out = add_negatives(step, np.random.default_rng(0), s, True)
    assert np.array_equal(out.songs, step.songs) and out.hits.shape == (2, 0)


def test_log_q_and_masked_hits_change_the_listwise_loss_as_they_should():
    r = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.2], [0.95, -0.1], [0.0, 1.0]]), dim=1)
    scale, left, right, y = torch.tensor(10.0), torch.tensor([0]), torch.tensor([1]), torch.tensor([1.0])
    base = listwise_loss(r, scale, left, right, y)
    # song 2 is a listed similar of song 0 with no target here: masked, it no longer competes with song 1
    hits = torch.tensor([[0, 2], [2, 0]])
    masked = listwise_loss(r, scale, left, right, y, hits=hits)
    assert masked < base
    # the target's own pair is never masked, whatever the hits say
    same = listwise_loss(r, scale, left, right, y, hits=torch.tensor([[0, 1], [1, 0]]))
    assert float(same) == pytest.approx(float(base), abs=1e-6)
    # log-Q: a frequent song (high q) counts less as a negative, a rare one more
    frequent = listwise_loss(r, scale, left, right, y, log_q=torch.log(torch.tensor([0.1, 0.1, 0.9, 0.1])))
    rare = listwise_loss(r, scale, left, right, y, log_q=torch.log(torch.tensor([0.1, 0.1, 0.001, 0.1])))
    assert frequent < base < rare
