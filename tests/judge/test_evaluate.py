"""Stage evaluate: the oracle look-up, the plot data, and the stage itself on the tiny world (the trivial
baselines' figures recomputed here from the split files, the compact DVC metrics, a rerun's identical report)."""

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from songsim.core.config import EvaluateConfig
from songsim.judge import evaluate
from songsim.learn.data import PairData
from songsim.models import MODELS
from tests.helpers import random_songs


def _pairs(src, tgt, score):
    score = np.asarray(score, np.float32)
    return PairData(np.asarray(src, np.int32), np.asarray(tgt, np.int32), score, (score >= 0.5).astype(np.int8),
                    np.ones(len(score), bool))


def test_oracle_lookup_joins_either_direction_and_leaves_the_rest_nan(tmp_path):
    songs = random_songs(n=6)
    ids = songs.track_ids
    pq.write_table(pa.table({"src": [ids[0], ids[2], ids[4], "TRNOTASONG", ids[0]],
                             "tgt": [ids[1], ids[3], ids[5], ids[1], ids[1]],
                             "oracle": [0.1, 0.3, 0.5, 0.9, 0.7]}), tmp_path / "oracle.parquet")
    # pairs as the split holds them: (0,1), the reversed (3,2), one the oracle lacks (0,5), (0,1) again
    got = evaluate.oracle_lookup(tmp_path / "oracle.parquet", _pairs([0, 3, 0, 0], [1, 2, 5, 1], [0.2] * 4), songs)
    np.testing.assert_allclose(got, [0.1, 0.3, np.nan, 0.1])  # the first row of a pair listed twice


def _read(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_plot_data_of_a_regressor_and_a_classifier(tmp_path):
    ecfg = EvaluateConfig(10, (0.0, 0.5, 1.0), 4, 0.5, (1, 5), (10,), 0, 0)
    test = _pairs([0, 1, 2, 3], [1, 2, 3, 4], [0.2, 0.5, 0.9, 0.123456789])
    pred = np.array([0.3, 0.49, 0.95, 0.123456789], np.float32)
    evaluate.write_plots(tmp_path / "reg", "regression", test, pred, ecfg)
    head, rows = _read(tmp_path / "reg" / "predictions.csv")
    assert head == ["target", "prediction"]
    np.testing.assert_allclose(np.array(rows, float), [[0.2, 0.3], [0.5, 0.49], [0.9, 0.95], [0.12346, 0.12346]],
                               atol=1e-6)
    head, rows = _read(tmp_path / "reg" / "errors.csv")  # 4 bins over [-1, 1] of prediction - target
    assert head == ["error", "count"]
    assert [(float(e), int(c)) for e, c in rows] == [(-0.75, 0), (-0.25, 1), (0.25, 3), (0.75, 0)]
    head, rows = _read(tmp_path / "reg" / "confusion.csv")  # "similar": 0.5 or more, on both sides
    assert head == ["actual", "predicted"] and rows == [["0", "0"], ["1", "0"], ["1", "1"], ["0", "0"]]
    # the classifier's targets are its labels
    evaluate.write_plots(tmp_path / "clf", "classification", test, np.array([0.7, 0.5, 0.2, 0.1]), ecfg)
    assert [r[0] for r in _read(tmp_path / "clf" / "predictions.csv")[1]] == ["0.0", "1.0", "1.0", "0.0"]
    assert _read(tmp_path / "clf" / "confusion.csv")[1] == [["0", "1"], ["1", "1"], ["1", "0"], ["0", "0"]]


@pytest.fixture(scope="module")
def rerun(tiny_run, tmp_path_factory):
    """The evaluate stage run again for every model, writing beside the tiny run's own outputs."""
    _, params = tiny_run
    out = tmp_path_factory.mktemp("evaluate")
    p = json.loads(json.dumps(params))
    for k in ("reports", "metrics", "plots"):
        p["paths"][k] = str(out / k)
    return p, {name: evaluate.run(p, name) for name in MODELS}


def _split(params, name, s):
    return pq.read_table(f"{params['paths']['splits']}/{MODELS[name].split_set}/{s}.parquet")


def test_the_stage_is_deterministic(tiny_run, rerun):
    """A rerun writes the same report and metrics (DVC then sees nothing changed downstream)."""
    _, first = tiny_run
    p, results = rerun
    for name, result in results.items():
        report = json.loads(open(f"{p['paths']['reports']}/evaluate_{name}.json").read())
        assert report == json.loads(json.dumps(result))  # the file is the result returned
        assert report == json.loads(open(f"{first['paths']['reports']}/evaluate_{name}.json").read()), name
        assert open(f"{p['paths']['metrics']}/{name}.json").read() == \
            open(f"{first['paths']['metrics']}/{name}.json").read(), name


def test_regressors_beside_the_best_constants(rerun):
    p, results = rerun
    for name in ("lyrics_regressor", "audio_siamese", "fused"):
        r = results[name]
        train = _split(p, name, "train").column("score").to_numpy().astype(np.float64)
        test = _split(p, name, "test").column("score").to_numpy().astype(np.float64)
        assert r["task"] == "regression" and r["test"]["n"] == len(test)
        for b, value in (("train_mean", train.mean()), ("train_median", np.median(train))):
            base = r["baselines"][b]
            assert base["value"] == pytest.approx(value, abs=1e-6), (name, b)
            assert base["n"] == len(test) and base["mae"] == pytest.approx(np.abs(test - value).mean(), abs=2e-6)
            assert r[f"mae_improvement_over_{b}"] == pytest.approx(1 - r["test"]["mae"] / base["mae"], abs=2e-6)
        assert r["baselines"]["train_median"]["mae"] <= r["baselines"]["train_mean"]["mae"]  # the best under MAE
        # the oracle: every test pair the world lists has its noise-free score
        oracle = pq.read_table(p["raw"]["oracle"], columns=["src", "tgt"]).to_pylist()
        listed = {(o["src"], o["tgt"]) for o in oracle} | {(o["tgt"], o["src"]) for o in oracle}
        t = _split(p, name, "test").to_pylist()
        assert r["baselines"]["oracle"]["n"] == sum((x["src"], x["tgt"]) in listed for x in t) > 0
        short = MODELS[name].short
        metrics = json.loads(open(f"{p['paths']['metrics']}/{name}.json").read())
        assert metrics == {short: {"mae": r["test"]["mae"], "rmse": r["test"]["rmse"],
                                   "base_mae": r["baselines"]["train_mean"]["mae"],
                                   "med_mae": r["baselines"]["train_median"]["mae"],
                                   "ndcg": r["retrieval"]["model"]["ndcg@10"]}}


def test_the_classifier_beside_the_majority_class(rerun):
    p, results = rerun
    r = results["lyrics_classifier"]
    train = _split(p, "lyrics_classifier", "train").column("label").to_numpy()
    test = _split(p, "lyrics_classifier", "test").column("label").to_numpy()
    majority = float(train.mean() >= 0.5)
    assert r["task"] == "classification" and r["test"]["n"] == len(test)
    assert r["baselines"]["majority"]["accuracy"] == pytest.approx(np.mean(test == majority), abs=1e-6)
    assert r["class_balance"]["test"] == {"pairs": len(test), "similar_share": pytest.approx(test.mean(), abs=1e-6)}
    assert r["gain_over_majority_accuracy"] == pytest.approx(
        r["test"]["accuracy"] - r["baselines"]["majority"]["accuracy"], abs=2e-6)
    metrics = json.loads(open(f"{p['paths']['metrics']}/lyrics_classifier.json").read())
    assert metrics == {"clf": {"acc": r["test"]["accuracy"], "base_acc": r["baselines"]["majority"]["accuracy"],
                               "pos": r["class_balance"]["test"]["similar_share"]}}


def test_nothing_to_evaluate_is_an_error_naming_the_split(tiny_run, tmp_path):
    _, params = tiny_run
    p = json.loads(json.dumps(params))
    splits = tmp_path / "splits" / "audio"  # audio_siamese's own set
    splits.mkdir(parents=True)
    src = f"{params['paths']['splits']}/audio"
    for s in ("train", "val"):
        pq.write_table(pq.read_table(f"{src}/{s}.parquet"), splits / f"{s}.parquet")
    pq.write_table(pq.read_table(f"{src}/test.parquet").slice(0, 0), splits / "test.parquet")  # no test pairs
    p["paths"]["splits"] = str(tmp_path / "splits")
    for k in ("reports", "metrics", "plots"):
        p["paths"][k] = str(tmp_path / k)
    with pytest.raises(ValueError, match="0 test pairs in .*audio; nothing to evaluate"):
        evaluate.run(p, "audio_siamese")
    assert not (tmp_path / "metrics").exists()
