"""Ranking metrics on hand-made rankings."""

import numpy as np
import pytest

from songsim.core.ranking import RankingAccumulator, topk_overlap


def _result(scores, gains, relevant, **kw):
    acc = RankingAccumulator(**kw)
    acc.add(np.array(scores, dtype=float), np.array(gains, dtype=float), np.array(relevant, dtype=bool))
    return acc.result()


def test_perfect_and_reversed_rankings():
    gains = [[0.9, 0.6, 0.0, 0.0]]
    rel = [[True, True, False, False]]
    best = _result([[4, 3, 2, 1]], gains, rel, ks=(1, 2), ndcg_k=2, map_k=4)
    assert best["recall@1"] == 0.5 and best["recall@2"] == 1.0
    assert best["ndcg@2"] == 1.0 and best["map@4"] == 1.0 and best["mrr"] == 1.0 and best["roc_auc"] == 1.0
    worst = _result([[1, 2, 3, 4]], gains, rel, ks=(2,), ndcg_k=2, map_k=4)
    assert worst["recall@2"] == 0.0 and worst["ndcg@2"] == 0.0 and worst["mrr"] == pytest.approx(1 / 3)
    assert worst["map@4"] == pytest.approx((1 / 3 + 2 / 4) / 2) and worst["roc_auc"] == 0.0


def test_graded_ndcg_and_excluded_candidates():
    # the query itself (-inf) is ranked last and never counts; ties keep candidate order (no lucky ties)
    r = _result([[-np.inf, 1.0, 1.0, 0.5]], [[0, 0.2, 1.0, 0]], [[False, False, True, False]], ks=(1,), ndcg_k=2)
    ideal = 1.0
    got = 0.2 + 1.0 / np.log2(3)
    assert r["ndcg@2"] == pytest.approx(got / (ideal + 0.2 / np.log2(3)))
    assert r["recall@1"] == 0.0 and r["mrr"] == 0.5
    assert r["roc_auc"] == pytest.approx(0.75)  # relevant tied with one non-relevant, above the other


def test_queries_without_relevant_candidates_are_left_out():
    r = _result([[1, 2], [2, 1]], [[0, 0], [1, 0]], [[False, False], [True, False]], ks=(1,))
    assert r["queries"] == 1 and r["recall@1"] == 1.0
    assert RankingAccumulator().result()["queries"] == 0


def test_topk_overlap():
    assert topk_overlap(np.array([[1, 2, 3], [4, 5, 6]]), np.array([[3, 2, 9], [4, 5, 6]])) == pytest.approx(
        (2 / 3 + 1) / 2)


def test_paired_bootstrap_interval():
    from songsim.core.ranking import paired_bootstrap

    rng = np.random.default_rng(0)
    b = rng.uniform(0, 1, 200)
    better = paired_bootstrap(b + 0.1 + rng.normal(0, 0.05, 200), b)
    assert better["diff"] == pytest.approx(0.1, abs=0.02) and 0 < better["ci95"][0] < better["diff"] < better["ci95"][1]
    same = paired_bootstrap(b + rng.normal(0, 0.05, 200), b)
    assert same["ci95"][0] < 0 < same["ci95"][1]
    assert paired_bootstrap([], [])["diff"] is None
