"""The whole pipeline (CLI code path, no DVC) on a tiny world: outputs, reports and metric files."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from songsim.core.config import ConfigError
from songsim.models import MODELS
from tests.helpers import live_history


def _load(path):
    return json.loads(open(path).read())


def test_reports_reconcile(tiny_run):
    _, params = tiny_run
    for stage in ("extract_pairs", "expand_lyrics", "list_msd", "chunk_audio"):
        r = _load(f"{params['paths']['reports']}/{stage}.json")
        assert r["read"] == r["kept"] + r["quarantined"] + r["dropped"], stage
        assert r["kept"] > 0 and r["seconds"] >= 0


def test_metrics_have_val_test_and_baselines(tiny_run):
    _, params = tiny_run
    for name in MODELS:
        m = _load(f"{params['paths']['reports']}/evaluate_{name}.json")
        assert set(m) >= {"val", "test", "baselines"}
        if name == "lyrics_classifier":
            assert 0 <= m["test"]["accuracy"] <= 1
            assert "majority" in m["baselines"] and "accuracy" in m["baselines"]["majority"]
        else:
            for k in ("mae", "rmse", "mse", "pearson", "spearman", "ndcg@10", "mae_by_score_bin"):
                assert k in m["test"], (name, k)
            assert m["baselines"]["train_mean"]["n"] == m["test"]["n"] == m["baselines"]["train_median"]["n"]
            # the median baseline: the training scores' median, the best constant under MAE
            tr = pq.read_table(f"{params['paths']['splits']}/{MODELS[name].split_set}/train.parquet")
            assert m["baselines"]["train_median"]["value"] == pytest.approx(
                float(np.median(tr.column("score").to_numpy())), abs=1e-6)
            assert "mae_improvement_over_train_median" in m
            assert "oracle" in m["baselines"] and m["baselines"]["oracle"]["mae"] >= 0
            assert "tfidf_cosine" in m["baselines"]
        # the modality ceiling (a perfect reader of the model's inputs), read from the world's latent factors
        ceil = m["baselines"]["latent_ceiling"]
        assert ceil["n"] == m["test"]["n"] and ceil["parts"][0] == "shared"
        assert ("lyrics" in ceil["parts"]) == MODELS[name].uses_lyrics
        assert ("audio" in ceil["parts"]) == MODELS[name].uses_audio
        assert m["ceiling_share"] is None or isinstance(m["ceiling_share"], float)
    assert "audio_mean_cosine" in _load(f"{params['paths']['reports']}/evaluate_fused.json")["baselines"]
    reg = _load(f"{params['paths']['reports']}/evaluate_lyrics_regressor.json")
    fused = _load(f"{params['paths']['reports']}/evaluate_fused.json")
    assert reg["test_multimodal"]["n"] == fused["test"]["n"]


def test_plot_files(tiny_run):
    _, params = tiny_run
    for name in MODELS:
        d = f"{params['paths']['plots']}/{name}"
        for f in ("predictions.csv", "errors.csv", "confusion.csv"):
            head = open(f"{d}/{f}").readline().strip()
            assert head, (name, f)
        short = MODELS[name].short
        live = Path(params["paths"]["live"]) / name
        assert "step" in json.loads((live / "metrics.json").read_text())
        assert list(live_history(live, short, "train_loss"))[0] == 1


def test_outputs_schemas(tiny_run):
    from songsim.core import schemas

    _, params = tiny_run
    assert pq.read_schema(params["paths"]["pairs"]).names == schemas.PAIRS.names
    lyr = pq.read_table(params["paths"]["lyrics"])
    assert lyr.schema.names == schemas.LYRICS.names
    assert all(len(t) == params["expand_lyrics"]["max_len"] for t in lyr.column("tokens").to_pylist()[:20])
    man = _load(f"{params['paths']['audio']}/manifest.json")
    assert man["rows"] == sum(s["rows"] for s in man["shards"]) > 0


def test_cli_rejects_unknown_model(tiny_run):
    from songsim.cli import run

    path, _ = tiny_run
    with pytest.raises(ConfigError):
        run("train", str(path), "nope")


def test_dvc_metrics_are_compact_and_hold_no_wall_clock(tiny_run):
    """What DVC compares (metrics/<model>.json): a few numbers per model, never seconds or throughput."""
    _, params = tiny_run
    for name in MODELS:
        [(short, m)] = _load(f"{params['paths']['metrics']}/{name}.json").items()
        assert short == MODELS[name].short and len(short) <= 3
        assert all(isinstance(v, float | int | None) for v in m.values()) and len(m) == (3 if short == "clf" else 5)
        assert not any(k in m for k in ("seconds", "throughput_per_s", "pairs_per_s"))
        full = _load(f"{params['paths']['reports']}/evaluate_{name}.json")
        assert m.get("mae", m.get("acc")) == full["test"].get("mae", full["test"].get("accuracy"))

