"""The calibration: isotonic maps per kind of pair, their tails, and the expected calibration error."""

import numpy as np
import pytest

from songsim.core.calibration import (
    CAL_MIN_GROUP,
    Calibrator,
    apply_calibration,
    block_masks,
    block_presence,
    calibrate_pairs,
    fit_calibration,
    fit_isotonic,
    pair_groups,
    reliability,
)


def test_isotonic_calibration_is_monotone_and_round_trips():
    from songsim.core.calibration import apply_calibration, fit_isotonic

    rng = np.random.default_rng(0)
    raw = rng.uniform(-1, 1, 2000)
    y = np.clip(0.5 * (raw + 1) ** 2 / 2 + rng.normal(0, 0.05, 2000), 0, 1)
    cal = fit_isotonic(raw, y)
    grid = np.linspace(-1.5, 1.5, 50)  # beyond the fitted range too: the tails keep rising
    out = apply_calibration(grid, cal)
    assert np.all(np.diff(out) > 0) and out.min() >= 0 and out.max() <= 1
    fine = np.sort(rng.uniform(-1, 1, 5000))  # inside: no ties where the raw scores differ (a step map ties)
    assert np.all(np.diff(apply_calibration(fine, cal)) > 0)
    assert np.abs(apply_calibration(raw, cal) - y).mean() < np.abs(np.clip(raw, 0, 1) - y).mean()
    assert all(isinstance(v, float) for v in cal["x"] + cal["y"])  # plain data for weights_only checkpoints
    assert np.array_equal(apply_calibration(np.array([-0.5, 0.5, 2.0]), None), [0.0, 0.5, 1.0])


def test_reliability_and_expected_calibration_error():
    from songsim.core.calibration import reliability

    y = np.array([0.0, 0.0, 1.0, 1.0])
    ece, rows = reliability(np.array([0.05, 0.05, 0.95, 0.95]), y, bins=10)
    assert ece == pytest.approx(0.05) and [r["pairs"] for r in rows] == [2, 2]
    ece_bad, _ = reliability(np.array([0.95, 0.95, 0.05, 0.05]), y, bins=10)
    assert ece_bad == pytest.approx(0.95)


def test_calibration_tails_start_from_the_end_knots_and_stay_in_0_1():
    from songsim.core.calibration import apply_calibration, calibration_knots

    cal = {"x": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], "y": [0.1, 0.1, 0.3, 0.3, 0.9, 0.9]}  # three blocks
    kx, ky = calibration_knots(cal)
    assert kx.tolist() == pytest.approx([0.1, 0.5, 0.9]) and ky.tolist() == pytest.approx([0.1, 0.3, 0.9])
    assert apply_calibration(kx, cal).tolist() == pytest.approx(ky.tolist())  # through the knots
    eps = 1e-6  # continuous at the end knots, with the end segments' slopes (0.5 and 1.5)
    assert (apply_calibration(np.array([0.1 - eps]), cal)[0] - 0.1) / -eps == pytest.approx(0.5, rel=1e-3)
    assert (apply_calibration(np.array([0.9 + eps]), cal)[0] - 0.9) / eps == pytest.approx(1.5, rel=1e-3)
    far = apply_calibration(np.array([-0.5, -0.1, 1.0, 1.05]), cal)
    assert 0 < far[0] < far[1] < 0.1 and 0.9 < far[2] < far[3] < 1
    assert apply_calibration(np.array([-50.0, 50.0]), cal).tolist() == pytest.approx([0.0, 1.0])
    ends = {"x": [0.0, 0.5, 0.5, 1.0], "y": [0.0, 0.0, 1.0, 1.0]}  # blocks fitted at 0 and 1: tails still rise
    assert np.all(np.diff(apply_calibration(np.linspace(-0.2, 1.2, 30), ends)) > 0)


def test_pair_kinds_are_the_blocks_both_songs_have():
    # blocks of widths 2 and 3; a song without a modality has its block zero
    space = np.array([[1, 0, 0, 1, 0], [0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32)
    has = block_presence(space, [2, 3])
    assert has.tolist() == [[True, True], [False, True], [True, False], [False, False]]
    kinds = pair_groups(has[[0, 0, 0, 1, 2, 3]], has[[0, 1, 2, 2, 2, 0]])
    assert kinds.tolist() == [3, 2, 1, 0, 1, 0]
    masks = block_masks(space, [2, 3])  # the same kinds from one mask a song, ANDed
    assert masks.tolist() == [3, 2, 1, 0] and masks.dtype == np.uint8
    assert (masks[[0, 0, 0, 1, 2, 3]] & masks[[0, 1, 2, 2, 2, 0]]).tolist() == kinds.tolist()


def test_calibration_per_kind_of_pair_where_one_pooled_map_mixes_scales():
    """Two kinds of pair on one raw scale but with opposite errors: the pooled map leaves each off by
    about the same amount in opposite directions (its ECE over both hides it); a map per kind fixes each.
    A kind with fewer than CAL_MIN_GROUP pairs takes the pooled map; a single kind stores no maps."""
    rng = np.random.default_rng(0)
    n = 4000
    raw = rng.uniform(0, 1, n)
    kinds = np.where(np.arange(n) % 2 == 0, 3, 2)
    y = np.clip(np.where(kinds == 3, 0.6 * raw, 0.6 * raw + 0.2) + rng.normal(0, 0.02, n), 0, 1)
    fit, test = np.arange(n) < n // 2, np.arange(n) >= n // 2
    pooled = fit_isotonic(raw[fit], y[fit])
    cal = fit_calibration(raw[fit], y[fit], kinds[fit])
    assert cal["x"] == pooled["x"] and cal["y"] == pooled["y"] and set(cal["groups"]) == {"2", "3"}
    before = calibrate_pairs(raw[test], pooled, kinds[test])  # no maps per kind: the pooled map everywhere
    np.testing.assert_array_equal(before, apply_calibration(raw[test], pooled))
    after = calibrate_pairs(raw[test], cal, kinds[test])
    for g in (2, 3):
        m = kinds[test] == g
        assert reliability(before[m], y[test][m])[0] > 0.08
        assert reliability(after[m], y[test][m])[0] < 0.02
    assert np.all(np.diff(after[kinds[test] == 3][np.argsort(raw[test][kinds[test] == 3])]) >= 0)
    # a kind seen too rarely (or never) in fitting: the pooled map
    rare = kinds[fit].copy()
    rare[:CAL_MIN_GROUP - 1] = 0
    cal = fit_calibration(raw[fit], y[fit], rare)
    assert "0" not in cal["groups"] and cal["groups"]["3"]["pairs"] >= CAL_MIN_GROUP
    unseen = calibrate_pairs(raw[:5], cal, np.zeros(5, dtype=int))
    np.testing.assert_array_equal(unseen, apply_calibration(raw[:5], cal))
    assert "groups" not in fit_calibration(raw, y, np.full(n, 3))  # one kind: the pooled map alone, as before


def test_a_calibrator_applies_each_kind_its_own_map_with_knots_computed_once():
    """Serving builds a Calibrator once at load: per pair, it gives what each kind's map gives alone (and the
    pooled map for a kind without one), the same on every call; mixed kinds in one call, any order."""
    rng = np.random.default_rng(1)
    raw = rng.uniform(-0.2, 1.2, 600)
    kinds = rng.choice([0, 2, 3], 600)
    y = np.clip(0.5 * raw + 0.1 * (kinds == 3) + rng.normal(0, 0.05, 600), 0, 1)
    cal = fit_calibration(raw, y, kinds)
    calib = Calibrator(cal)
    assert set(calib.by_kind) == {int(g) for g in cal["groups"]}
    out = calib(raw, kinds)
    for g in (0, 2, 3):
        m = kinds == g
        np.testing.assert_array_equal(out[m], apply_calibration(raw[m], cal["groups"][str(g)]))
    np.testing.assert_array_equal(calib(raw, kinds), out)
    np.testing.assert_array_equal(calib(raw), apply_calibration(raw, cal))  # no kinds given: the pooled map
    np.testing.assert_array_equal(Calibrator(None)(raw), np.clip(raw, 0, 1))
    assert calib(raw[:0], kinds[:0]).shape == (0,)
