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
        assert r["kept"] > 0
        # every report is timed but list_msd's: it runs at every dvc repro, and the same tree must give the same bytes
        assert ("seconds" in r and r["seconds"] >= 0) == (stage != "list_msd"), stage


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
    # the three regressors compare on the same multimodal test pairs; audio and fused also on their own sets
    mm = pq.read_table(f"{params['paths']['splits']}/multimodal/test.parquet").num_rows
    for name in ("lyrics_regressor", "audio_siamese", "fused"):
        m = _load(f"{params['paths']['reports']}/evaluate_{name}.json")
        assert m["test_multimodal"]["n"] == mm, name
    fused = _load(f"{params['paths']['reports']}/evaluate_fused.json")
    assert fused["set"] == "catalog" and fused["test"]["n"] > mm
    # ranking per query segment: the catalog holds songs with both, audio only and lyrics only
    seg = fused["retrieval"]["segments"]
    assert sum(s["queries"] for s in seg.values()) == fused["retrieval"]["queries"]
    assert "both" in seg and {"model", "random", "tfidf_cosine", "audio_mean_cosine"} <= set(seg["both"])
    for s in seg.values():
        assert 0 <= s["model"]["ndcg@10"] <= 1 and "model_minus_hybrid" in s["bootstrap"]


def _csv(path) -> tuple[list[str], np.ndarray]:
    """A plot CSV: its header and its rows as floats."""
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], np.array(rows[1:], dtype=np.float64).reshape(len(rows) - 1, len(rows[0]))


def test_plot_files(tiny_run):
    """The plot data hold what the evaluation computed: one prediction per test pair (its target from the
    split file), the error histogram and confusion pairs of those predictions, the recall@k curve and the
    reliability bins of the report."""
    _, params = tiny_run
    ev = params["evaluate"]
    for name in MODELS:
        d = Path(params["paths"]["plots"]) / name
        report = _load(f"{params['paths']['reports']}/evaluate_{name}.json")
        n = report["test"]["n"]
        test = pq.read_table(f"{params['paths']['splits']}/{MODELS[name].split_set}/test.parquet")
        classifier = MODELS[name].task == "classification"
        head, pred = _csv(d / "predictions.csv")
        assert head == ["target", "prediction"] and len(pred) == n == test.num_rows > 0, name
        truth, p = pred[:, 0], pred[:, 1]
        want = test.column("label" if classifier else "score").to_numpy().astype(np.float64)
        np.testing.assert_allclose(truth, want, atol=1e-5, err_msg=name)  # the test pairs, in their order
        assert ((0 <= p) & (p <= 1)).all() and p.std() > 0, name
        sure = np.abs(p - 0.5) > 1e-5  # the CSV rounds to 5 decimals: a few pairs may sit on the threshold
        if classifier:
            assert abs(np.mean((p >= 0.5) == truth) - report["test"]["accuracy"]) <= (~sure).mean() + 1e-6, name
        else:
            assert np.abs(p - truth).mean() == pytest.approx(report["test"]["mae"], abs=2e-5), name
        head, err = _csv(d / "errors.csv")
        assert head == ["error", "count"] and len(err) == ev["error_bins"], name
        edges = np.linspace(-1, 1, ev["error_bins"] + 1)
        np.testing.assert_allclose(err[:, 0], (edges[:-1] + edges[1:]) / 2, atol=1e-4)
        assert err[:, 1].sum() == n, name
        on_edge = int((np.abs((p - truth)[:, None] - edges) < 2e-5).any(axis=1).sum())  # rounding may move these
        assert np.abs(err[:, 1] - np.histogram(p - truth, ev["error_bins"], (-1, 1))[0]).sum() <= 2 * on_edge, name
        head, conf = _csv(d / "confusion.csv")
        assert head == ["actual", "predicted"] and len(conf) == n, name
        np.testing.assert_array_equal(conf[:, 0], truth >= 0.5)
        np.testing.assert_array_equal(conf[sure, 1], p[sure] >= 0.5)
        if classifier:  # the report's confusion matrix counts the same pairs
            counts = [[int(((conf[:, 0] == a) & (conf[:, 1] == b)).sum()) for b in (0, 1)] for a in (0, 1)]
            assert counts == report["test"]["confusion_matrix"], name
        head, rec = _csv(d / "recall_at_k.csv")
        ret = report["retrieval"]
        assert head == ["k", "model", *ret["baselines"]] and rec[:, 0].tolist() == ev["recall_ks"], name
        for j, col in enumerate(head[1:], 1):
            got = ret["model"] if col == "model" else ret["baselines"][col]
            assert rec[:, j].tolist() == [got[f"recall@{k}"] for k in ev["recall_ks"]], (name, col)
            assert (np.diff(rec[:, j]) >= 0).all() and 0 <= rec[:, j].min() and rec[:, j].max() <= 1, (name, col)
        head, rel = _csv(d / "reliability.csv")
        assert head == ["bin", "predicted", "observed", "pairs"], name
        assert rel[:, 3].sum() == ret["calibration"]["pairs"] == n and (np.diff(rel[:, 0]) > 0).all(), name
        assert ((0 <= rel[:, 1:3]) & (rel[:, 1:3] <= 1)).all(), name
        kinds = ret["calibration"].get("by_kind")  # fused: each kind of pair's own ECE, over all the test pairs
        assert (kinds is not None) == (name == "fused"), name
        assert kinds is None or sum(k["pairs"] for k in kinds.values()) == n, name
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

