"""Per-epoch metrics through DVCLive: one step per epoch, names under live.<short>, members one after another,
nothing written by a rank that does not log."""

import json

import pytest

from songsim.learn.live import EPOCH_KEYS, EpochLog
from tests.helpers import live_history


def _row(epoch, **extra):
    return {"epoch": epoch, "train_loss": 0.5 / epoch, "val_loss": 0.6 / epoch, "train_mae": 0.2 / epoch,
            "val_mae": 0.25 / epoch, "val_ndcg": 0.1 * epoch, "train_rank_loss": 1.0 / epoch, "lr": 0.001,
            "pairs_per_s": 1234.0, "seconds": 2.0, **extra}


def test_each_epoch_is_one_step_under_the_models_prefix(tmp_path):
    log = EpochLog(tmp_path / "live", "lyr")
    rows = [_row(1), _row(2)]
    for r in rows:
        log.log(r)
    # the latest epoch is in metrics.json as soon as it is logged (dvc exp show reads it during training)
    summary = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert summary["step"] == 2
    assert summary["live"]["lyr"] == {k: pytest.approx(rows[1][k]) for k in EPOCH_KEYS if k in rows[1]}
    log.close()
    for key in ("train_loss", "val_mae", "lr"):
        assert live_history(tmp_path / "live", "lyr", key) == pytest.approx({r["epoch"]: r[key] for r in rows})
    plots = tmp_path / "live" / "plots" / "metrics" / "live" / "lyr"
    # every key the rows hold (val_accuracy: the classifier's; train_artist_loss: with the artist loss)
    assert sorted(p.stem for p in plots.iterdir()) == sorted(k for k in EPOCH_KEYS if k in rows[0])
    assert set(EPOCH_KEYS) - set(rows[0]) == {"val_accuracy", "train_artist_loss"}
    # the pipeline declares these files: DVCLive writes no dvc.yaml or report of its own
    assert not (tmp_path / "live" / "dvc.yaml").exists() and not (tmp_path / "live" / "report.html").exists()


def test_the_classifier_logs_its_accuracy(tmp_path):
    log = EpochLog(tmp_path / "live", "clf")
    log.log(_row(1, val_accuracy=0.7))
    log.close()
    assert live_history(tmp_path / "live", "clf", "val_accuracy") == {1: pytest.approx(0.7)}


def test_ensemble_members_log_one_after_another(tmp_path):
    log = EpochLog(tmp_path / "live", "aud")
    for member in range(2):
        log.offset = 2 * member  # what train() sets before each member's epochs
        for epoch in (1, 2):
            log.log(_row(epoch, val_mae=10 * member + epoch))
    log.close()
    assert live_history(tmp_path / "live", "aud", "val_mae") == {1: 1, 2: 2, 3: 11, 4: 12}


def test_a_rank_that_does_not_log_writes_nothing(tmp_path):
    for log in (EpochLog(tmp_path / "off", "fus", enabled=False), EpochLog(None, "fus")):
        assert log.live is None
        log.log(_row(1))
        log.close()
    assert not (tmp_path / "off").exists()


def test_close_ends_the_run_once(tmp_path):
    log = EpochLog(tmp_path / "live", "fus")
    log.log(_row(1))
    log.close()
    assert log.live is None
    log.close()  # a second close (e.g. in a finally after an error) is harmless
    log.log(_row(2))  # ... and a closed log logs nothing
    assert live_history(tmp_path / "live", "fus", "val_mae") == {1: pytest.approx(0.25)}
