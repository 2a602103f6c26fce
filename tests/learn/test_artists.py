"""Artist mates: the sampler over the training songs, the steps it extends, the loss it feeds."""

import numpy as np
import pytest
import torch

from songsim.learn.artists import ArtistSampler, add_mates, mate_positions
from songsim.learn.batches import compose_extensions, step_for
from songsim.learn.loop import artist_loss
from songsim.learn.negatives import RankSampler, add_negatives
from tests.helpers import random_pairs

# song rows 0..7: artists a (0, 1, 2), b (3, 4), c (5: alone), unknown (6), a again (7, not a training song)
ARTIST_OF = ["a", "a", "a", "b", "b", "c", None, "a"]
TRAIN = np.array([0, 1, 2, 3, 4, 5, 6])


def test_sampler_groups_training_songs_of_artists_with_two_or_more():
    s = ArtistSampler.build(ARTIST_OF, TRAIN, n=8)
    assert s.artists == 2 and sorted(s.members.tolist()) == [0, 1, 2, 3, 4]
    assert s.code[5] == -1 and s.code[6] == -1  # alone, unknown artist
    assert s.code[7] == -1  # not a training song: never an anchor, never a mate
    assert s.code[0] == s.code[1] == s.code[2] != s.code[3] == s.code[4]


def test_draw_gives_each_anchor_another_song_of_its_artist():
    s = ArtistSampler.build(ARTIST_OF, TRAIN, n=8)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        anchor, mate, group = s.draw(np.array([0, 3, 5, 6, 0]), rng)
        assert anchor.tolist() == [0, 3]  # distinct, only songs with a mate
        assert (mate != anchor).all() and (s.code[mate] == group).all() and (s.code[anchor] == group).all()
        seen.add(int(mate[0]))
    assert seen == {1, 2}  # both of song 0's mates are drawn
    few = ArtistSampler.build(ARTIST_OF, TRAIN, n=2).draw(np.arange(5), rng)
    assert few.shape == (3, 2) and len(set(few[0].tolist())) == 2


@pytest.mark.parametrize("dedup", [True, False])
def test_add_mates_puts_the_mates_in_the_step_and_keeps_its_pairs(dedup):
    s = ArtistSampler.build(ARTIST_OF, TRAIN, n=8)
    src, tgt = np.array([0, 3, 5]), np.array([6, 0, 4])
    step = step_for(np.arange(3), src, tgt, dedup, 3)
    out = add_mates(step, np.random.default_rng(1), s, dedup)
    assert (out.songs[out.left] == src).all() and (out.songs[out.right] == tgt).all()
    a, m, g = mate_positions(out)
    assert (out.songs[a] == out.mates[0]).all() and (out.songs[m] == out.mates[1]).all()
    assert set(out.mates[0].tolist()) == {0, 3, 4} and (g == s.code[out.mates[0]]).all()
    if dedup:
        assert len(np.unique(out.songs)) == len(out.songs)


def test_artist_loss_rewards_mates_that_find_each_other_and_masks_same_artist_negatives():
    f = torch.nn.functional.normalize
    r = f(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [-1.0, 0.2], [-0.9, 0.0]]), dim=1)
    anchor, groups = torch.tensor([0, 2, 4]), torch.tensor([0, 1, 2])
    good = artist_loss(r, anchor, torch.tensor([1, 3, 5]), groups, 0.1)
    bad = artist_loss(r, anchor, torch.tensor([3, 5, 1]), groups, 0.1)
    assert float(good) < float(bad)
    # two anchors of one artist: the other's mate is masked, not taught as a negative (it lies close)
    a2, m2 = torch.tensor([0, 2, 1]), torch.tensor([1, 3, 0])
    masked = artist_loss(r, a2, m2, torch.tensor([0, 1, 0]), 0.1)
    unmasked = artist_loss(r, a2, m2, torch.tensor([0, 1, 2]), 0.1)
    assert float(masked) < 0.01 < 0.3 < float(unmasked)
    # fewer than two anchors: no loss, but still a graph (every parameter takes part in the step)
    leaf = r.clone().requires_grad_(True)
    one = artist_loss(leaf, torch.tensor([0]), torch.tensor([1]), torch.tensor([0]), 0.1)
    one.backward()
    assert float(one.detach()) == 0.0 and float(leaf.grad.abs().sum()) == 0.0


def test_mates_and_sampled_negatives_compose_on_one_step():
    """Both extensions on a step (the artist loss beside the catalog-scale listwise loss): the mates stay among
    the step's songs, and log-Q and the accidental hits index its distinct songs."""
    pairs = random_pairs(30, 8, seed=2)
    mates = ArtistSampler.build(ARTIST_OF, TRAIN, n=8)
    negs = RankSampler.build(pairs, 8, 16, n=3, logq=True, mask_hits=True)
    extend = compose_extensions(lambda st, rng: add_mates(st, rng, mates, True),
                                lambda st, rng: add_negatives(st, rng, negs, True))
    step = step_for(np.arange(4), pairs.src[:4].astype(np.int64), pairs.tgt[:4].astype(np.int64), True, 4)
    out = extend(step, np.random.default_rng(3))
    assert len(np.unique(out.songs)) == len(out.songs) and np.isin(out.mates[:2], out.songs).all()
    assert len(out.log_q) == len(out.songs) and (out.hits < len(out.songs)).all()
    assert (out.songs[out.left] == pairs.src[:4]).all() and (out.songs[out.right] == pairs.tgt[:4]).all()
    assert compose_extensions(None, None) is None


def test_add_mates_takes_one_number_from_the_shared_generator_whatever_the_step_holds():
    """Under DDP each rank extends its own share of the batch with the generator every rank shares: the plan's
    next draws must not depend on how many anchors a rank's songs gave."""
    s = ArtistSampler.build(ARTIST_OF, TRAIN, n=8)
    after = []
    for src, tgt in ((np.array([0, 3]), np.array([1, 4])), (np.array([5]), np.array([6]))):  # 4 anchors / none
        rng = np.random.default_rng(7)
        add_mates(step_for(np.arange(len(src)), src, tgt, True, 2), rng, s, True)
        after.append(rng.random())
    assert after[0] == after[1]
