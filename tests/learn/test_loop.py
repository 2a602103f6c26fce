"""The inner loop: device totals, the lr rule for large batches and its warm-up, the output's starting level,
batch-norm recalibration."""

import math

import numpy as np
import pytest
import torch

from songsim.learn.batches import SongStore, plan_epoch
from songsim.learn.loop import LrRule, listwise_loss, prepare, recalibrate_batch_norm, train_steps
from songsim.learn.setup import init_output_bias
from songsim.models.configs import AudioEncoderConfig, AudioSiameseConfig
from tests.helpers import random_pairs as _pairs
from tests.helpers import random_songs as _songs


def test_lr_rules():
    assert LrRule("linear", 256, 1).factor(1024) == 4.0
    assert LrRule("sqrt", 256, 1).factor(1024) == 2.0
    assert LrRule("none", 256, 1).factor(1024) == 1.0
    assert LrRule("sqrt", 256, 1).factor(64) == 0.5  # smaller batches scale down, with no warm-up
    assert LrRule("sqrt", 256, 1).warmup(64, 10) is None and LrRule("sqrt", 256, 1).warmup(256, 10) is None
    w = LrRule("linear", 256, 2).warmup(1024, 10)  # 20 warm-up steps from lr/4 to lr
    assert w(0) == pytest.approx(0.25 + 0.75 / 20) and w(9) == pytest.approx(0.25 + 0.75 * 10 / 20)
    assert w(19) == pytest.approx(1.0) and w(20) == 1.0 and w(10_000) == 1.0
    assert all(a < b for a, b in zip(map(w, range(19)), map(w, range(1, 20))))


def _model():
    from songsim.models.nets import AudioSiamese

    torch.manual_seed(0)
    cfg = AudioSiameseConfig(encoder=AudioEncoderConfig(conv_channels=(4,), dense=(8,), embed_dim=8, dropout=0.0),
                             dense=(8,), dropout=0.0)
    return AudioSiamese(cfg)


def test_totals_are_device_sums_and_warmup_scales_only_the_step():
    songs, pairs = _songs(), _pairs()
    y = torch.from_numpy(pairs.score)
    seen = []

    def run(mult):
        model = _model()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        before = [p.detach().clone() for p in model.parameters()]
        steps = list(plan_epoch(pairs, 300, True, np.random.default_rng(0)))  # one step: all 203 pairs
        tot = train_steps(model, opt, prepare(SongStore(songs, torch.device("cpu")), steps), y, "regression",
                          False, lr_mult=mult, on_step=lambda: seen.append(1))
        assert opt.param_groups[0]["lr"] == 0.1  # the scheduled lr is restored after the step
        return tot, [p.detach() - b for p, b in zip(model.parameters(), before)]

    full, d_full = run(None)
    half, d_half = run(lambda k: 0.5)
    assert full["n"] == 203 and full["steps"] == 1 and len(seen) == 2
    assert full["loss"].dtype == torch.float64 and math.isfinite(float(full["abs"]))
    assert float(full["abs"]) / 203 == pytest.approx(float(half["abs"]) / 203)  # same forward pass
    for a, b in zip(d_full, d_half):
        assert torch.allclose(b, 0.5 * a, atol=1e-7)


def test_regression_losses_fit_mean_median_and_between():
    from songsim.learn.loop import loss_fn

    y = torch.tensor([0.0, 0.0, 0.0, 0.1, 1.0])  # skewed, like real scores: median 0, mean 0.22
    grid = torch.linspace(0, 1, 1001)

    def best(kind):
        return float(grid[torch.stack([loss_fn(kind, torch.full_like(y, c), y) for c in grid]).argmin()])

    assert best("mse") == pytest.approx(0.22, abs=1e-3) and best("regression") == best("mse")
    assert best("l1") == pytest.approx(0.0, abs=1e-3)
    assert 0.0 < best("huber") < 0.22
    with pytest.raises(ValueError, match="unknown loss"):
        loss_fn("mae", y, y)


def test_listwise_loss_prefers_the_listed_similar():
    left, right, y = torch.tensor([0, 2]), torch.tensor([1, 3]), torch.tensor([0.9, 0.0])
    near = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.2]]), dim=1)
    far = near[[0, 3, 2, 1]]  # song 1 moved away from song 0, song 3 close to it
    scale = torch.tensor(10.0)
    good, bad = (listwise_loss(r, scale, left, right, y) for r in (near, far))
    assert good < bad
    # a row without a positive target (song 2, 3 with score 0) adds nothing; no positive at all -> 0
    assert float(listwise_loss(near, scale, left, right, torch.zeros(2))) == 0.0


def test_anchor_norm_ranks_a_song_lacking_a_modality_at_a_full_songs_temperature():
    """anchor_norm divides each anchor's logits by its squared norm (the weight of the modalities it has):
    unit rows are unchanged; rows all of squared norm c rank as unit rows at scale / c; a short row
    (audio only, w_audio 0.3) no longer softens its own softmax."""
    left, right, y = torch.tensor([0, 2]), torch.tensor([1, 3]), torch.tensor([0.9, 0.4])
    unit = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.2]]), dim=1)
    scale = torch.tensor(10.0)
    plain = listwise_loss(unit, scale, left, right, y)
    assert float(listwise_loss(unit, scale, left, right, y, anchor_norm=True)) == pytest.approx(float(plain))
    short = unit * math.sqrt(0.3)
    assert float(listwise_loss(short, scale, left, right, y, anchor_norm=True)) == pytest.approx(
        float(listwise_loss(short, scale / 0.3, left, right, y)), rel=1e-5)
    assert listwise_loss(short, scale, left, right, y, anchor_norm=True) < listwise_loss(short, scale, left, right, y)


def test_listwise_loss_never_takes_a_song_for_its_own_negative():
    from songsim.learn.loop import distinct_slots

    r = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.8, 0.6], [1.0, 0.0]]), dim=1)
    scale = torch.tensor(10.0)
    # slots 0 and 2 hold the same song (no dedup): one song, so neither is the other's negative
    slot_song, n = distinct_slots(np.array([5, 9, 5]))
    assert slot_song.tolist() == [0, 1, 0] and n == 2 and distinct_slots(np.array([5, 9])) is None
    twice = listwise_loss(r, scale, torch.tensor([2]), torch.tensor([1]), torch.tensor([1.0]),
                          torch.from_numpy(slot_song), n)
    once = listwise_loss(r[:2], scale, torch.tensor([0]), torch.tensor([1]), torch.tensor([1.0]))
    assert float(twice) == pytest.approx(float(once), abs=1e-6)


def _tiny_siamese():
    """A small audio Siamese model, the same weights on every call."""
    from songsim.models.nets import AudioSiamese

    torch.manual_seed(0)
    return AudioSiamese(AudioSiameseConfig(encoder=AudioEncoderConfig(conv_channels=(4,), dense=(8,), embed_dim=8),
                                           dense=(8,)))


def test_train_steps_adds_the_listwise_loss_and_reports_it():
    songs, pairs = _songs(), _pairs()
    model = _tiny_siamese()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    before = model.rank_log_scale.item()
    steps = plan_epoch(pairs, 64, True, np.random.default_rng(0))
    tot = train_steps(model, opt, prepare(SongStore(songs, torch.device("cpu")), steps),
                      torch.from_numpy(pairs.score), "l1", False, rank_weight=1.0)
    assert tot["rank"].item() > 0 and tot["n"] == len(pairs)
    assert model.rank_log_scale.item() != before  # the temperature is learned


@pytest.mark.parametrize(("kind", "target", "level"), [
    ("l1", [0.0, 0.02, 0.03, 0.5, 0.9], 0.03),  # the median: what L1 fits
    ("mse", [0.0, 0.1, 0.2, 0.3], 0.15),  # the mean
    ("classification", [0, 0, 0, 1], 0.25),  # the share of positives
    ("l1", [0.0, 0.0, 0.0, 0.4], 0.01),  # a median of 0 starts at the floor, not at sigmoid(-inf)
])
def test_output_starts_at_the_constant_its_loss_fits(kind, target, level):
    songs, pairs = _songs(), _pairs()
    step = next(iter(plan_epoch(pairs, 64, False, np.random.default_rng(0))))
    (batch, _, _), = list(prepare(SongStore(songs, torch.device("cpu")), [step]))
    model = _tiny_siamese().eval()
    assert init_output_bias(model, np.asarray(target, dtype=np.float32), kind) == pytest.approx(level)
    last = model.decoder.net[-1]
    with torch.no_grad():  # a zero input to the last layer: the output is sigmoid(bias) exactly
        assert torch.sigmoid(last(torch.zeros(1, last.in_features))).item() == pytest.approx(level, rel=1e-5)
        # the whole model's first predictions sit nearer the level than an uninitialised model's (near 0.5)
        started, default = model(batch), _tiny_siamese().eval()(batch)
    assert (started - level).abs().median() < (default - level).abs().median()


def test_batch_norm_recalibration_is_the_plain_average_of_the_batches():
    torch.manual_seed(0)
    lin, bn = torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)
    model = torch.nn.Sequential(lin, bn, torch.nn.Dropout(0.5)).eval()
    xs = [torch.randn(32, 3) + i for i in range(3)]  # the third batch is past max_batches
    before = torch.get_rng_state()
    assert recalibrate_batch_norm(model, ((x, None, None) for x in xs), max_batches=2) == 2
    with torch.no_grad():
        h = [lin(x) for x in xs[:2]]
    assert torch.allclose(bn.running_mean, (h[0].mean(0) + h[1].mean(0)) / 2, atol=1e-5)
    assert torch.allclose(bn.running_var, (h[0].var(0) + h[1].var(0)) / 2, atol=1e-5)  # each batch's, averaged
    assert bn.momentum == 0.1 and not model.training  # momentum and mode restored
    assert torch.equal(torch.get_rng_state(), before)  # training's random stream is not shifted
    assert recalibrate_batch_norm(torch.nn.Linear(3, 1), ((x, None, None) for x in xs), 2) == 0  # no batch norm
