"""scripts/learning_curve.py: rows from recorded runs, and the runs it refuses to put on one curve."""

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from learning_curve import MODELS, curve_rows, write  # noqa: E402


def _run(name: str, frac: float, seed: int = 11, ndcg: float = 0.1) -> dict:
    return {"name": name, "params": {"synth.seed": seed, "synth.size": "medium", "splits.data_fraction": frac},
            "train": {m: {"train_pairs": int(100_000 * frac)} for m in MODELS},
            "reports": {m: {"test": {"mae": 0.08 - frac / 10}, "retrieval": {"model": {"ndcg@10": ndcg + frac}}}
                        for m in MODELS}}


def test_rows_come_in_order_of_the_fraction_and_round_trip_through_the_csv(tmp_path):
    rows = curve_rows([_run("c", 0.1), _run("a", 0.01), _run("b", 0.03)])
    assert [r["data_fraction"] for r in rows] == [0.01, 0.03, 0.1]
    assert rows[-1]["fused_train_pairs"] == 10_000 and rows[0]["audio_siamese_ndcg"] == pytest.approx(0.11)
    write(rows, tmp_path / "curve.csv")
    back = list(csv.DictReader((tmp_path / "curve.csv").open()))
    assert [float(r["data_fraction"]) for r in back] == [0.01, 0.03, 0.1]
    assert float(back[1]["lyrics_regressor_mae"]) == pytest.approx(0.077)


def test_runs_that_differ_in_more_than_the_fraction_are_refused():
    with pytest.raises(SystemExit, match="more than splits.data_fraction"):
        curve_rows([_run("a", 0.01), _run("b", 0.1, seed=13)])
    with pytest.raises(SystemExit, match="same splits.data_fraction"):
        curve_rows([_run("a", 0.1), _run("b", 0.1)])


def test_a_run_at_the_committed_fraction_takes_its_base_commits_value():
    """A run records only the params it changed: one left at the committed fraction has none recorded."""
    at_base = _run("d", 0.3)
    del at_base["params"]["splits.data_fraction"]
    rows = curve_rows([_run("a", 0.01), at_base], default_fraction=lambda run: 0.3)
    assert [r["data_fraction"] for r in rows] == [0.01, 0.3] and rows[1]["fused_train_pairs"] == 30_000
    with pytest.raises(SystemExit, match="same splits.data_fraction"):
        curve_rows([_run("a", 0.3), at_base], default_fraction=lambda run: 0.3)


def test_a_param_added_after_a_runs_commit_takes_the_value_it_had_before():
    """A run from before a setting existed records nothing for it; ``absent`` says what it meant then, and
    without it the run counts as different from one that set it."""
    old, new = _run("old", 0.1), _run("new", 0.3)
    new["params"]["audio_siamese.model.artist_weight"] = 0.0
    base = {"old": {}, "new": {"audio_siamese.model.artist_weight": 1.0}}

    def base_value(run, key):
        from learning_curve import MISSING
        return base[run["name"]].get(key, MISSING)

    with pytest.raises(SystemExit, match="more than splits.data_fraction"):
        curve_rows([old, new], base_value=base_value)
    rows = curve_rows([old, new], base_value=base_value, absent={"audio_siamese.model.artist_weight": 0.0})
    assert [r["data_fraction"] for r in rows] == [0.1, 0.3]
    with pytest.raises(SystemExit, match="more than splits.data_fraction"):  # it meant 0, the other run set 1
        new["params"]["audio_siamese.model.artist_weight"] = 1.0
        curve_rows([old, new], base_value=base_value, absent={"audio_siamese.model.artist_weight": 0.0})
    del new["params"]["audio_siamese.model.artist_weight"]  # not recorded: its base commit's 1.0
    with pytest.raises(SystemExit, match="more than splits.data_fraction"):
        curve_rows([old, new], base_value=base_value, absent={"audio_siamese.model.artist_weight": 0.0})
