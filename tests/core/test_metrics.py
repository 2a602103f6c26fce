"""Metrics on hand-checked inputs."""

import numpy as np
import pytest

from songsim.core.metrics import (
    calibrate,
    classification_metrics,
    ndcg_at_k,
    regression_metrics,
    row_cosine,
    tfidf_vectors,
)


def test_regression_metrics_values():
    y = np.array([0.0, 0.5, 1.0, 0.25])
    p = np.array([0.1, 0.5, 0.8, 0.25])
    m = regression_metrics(y, p, ["a", "a", "b", "b"], k=10)
    assert m["mae"] == pytest.approx(0.075) and m["mse"] == pytest.approx(0.0125)
    assert m["rmse"] == pytest.approx(np.sqrt(0.0125), abs=1e-6) and m["spearman"] == pytest.approx(1.0)
    assert m["ndcg@10"] == pytest.approx(1.0)
    assert m["mae_by_score_bin"]["0.0-0.2"] == {"n": 1, "mae": pytest.approx(0.1)}
    assert m["mae_by_score_bin"]["0.8-1.0"]["n"] == 1  # 1.0 falls in the last bin


def test_ndcg_penalises_wrong_order():
    y = np.array([1.0, 0.5, 0.0])
    assert ndcg_at_k(["s"] * 3, y, np.array([0.0, 0.5, 1.0]), 10) < ndcg_at_k(["s"] * 3, y, y, 10) == 1.0


def test_classification_metrics():
    m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0.2, 0.6, 0.7, 0.9]))
    assert m["accuracy"] == 0.75 and m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0
    assert m["roc_auc"] == 1.0 and m["confusion_matrix"] == [[1, 1], [0, 2]]


def test_calibrate_and_tfidf():
    x = np.array([0.0, 1.0, 2.0])
    assert calibrate(x, 0.25 * x + 0.1, np.array([1.0, 10.0])).tolist() == pytest.approx([0.35, 1.0])
    m, _ = tfidf_vectors([[1, 2], [1, 2], [3]], [[1, 1], [2, 2], [5]], 3)
    c = row_cosine(m[[0, 0]], m[[1, 2]])
    assert c[0] == pytest.approx(1.0) and c[1] == pytest.approx(0.0)
