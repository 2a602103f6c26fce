"""Ranking evaluation: sparse judgments, query blocks, and memory that does not grow with the catalog squared."""

import tracemalloc

import numpy as np
import pytest
import torch

from songsim.core.config import EvaluateConfig, RetrievalConfig
from songsim.core.ranking import Judgments, catalog_ndcg
from songsim.judge.baselines import audio_unit_means
from songsim.judge.evaluate_ranking import evaluate_ranking, oracle_matrix
from songsim.learn.data import PairData
from songsim.models.configs import AudioEncoderConfig, AudioSiameseConfig
from songsim.models.nets import build_model
from tests.helpers import random_songs

ECFG = EvaluateConfig(ndcg_k=10, score_bins=(0.0, 0.5, 1.0), error_bins=10, relevant_score=0.5, recall_ks=(1, 10),
                      served_candidates=(20, 50), max_queries=150, decoder_queries=40)
RCFG = RetrievalConfig(candidates=50, hnsw_m=16, ef_construction=40, ef_search=64, build_threads=1, batch_size=64)


def _pairs(n_songs: int, per_song: int = 4, seed: int = 0) -> PairData:
    rng = np.random.default_rng(seed)
    n = n_songs * per_song
    src = rng.integers(0, n_songs, n).astype(np.int32)
    tgt = ((src + rng.integers(1, n_songs, n)) % n_songs).astype(np.int32)  # never the song itself
    score = np.where(rng.random(n) < 0.2, rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 0.3, n)).astype(np.float32)
    return PairData(src, tgt, score, (score >= 0.1).astype(np.int8), rng.random(n) < 0.9)


def _dense(p: PairData, rows: np.ndarray) -> np.ndarray:
    """The definition, densely: both directions, the larger of two listings, listed pairs only."""
    pos = {int(r): i for i, r in enumerate(rows)}
    g = np.zeros((len(rows), len(rows)))
    for s, t, v, lab in zip(p.src, p.tgt, p.score, p.labelled):
        if lab:
            a, b = pos[int(s)], pos[int(t)]
            g[a, b] = g[b, a] = max(g[a, b], v)
    return g


def test_sparse_judgments_match_the_dense_definition():
    p = _pairs(60)
    rows = np.unique(np.concatenate([p.src, p.tgt]))
    j = Judgments(p.src, p.tgt, p.score, p.labelled, rows, 0.5)
    dense = _dense(p, rows)
    assert j.gains.nnz <= 2 * int(p.labelled.sum())  # memory grows with the pairs
    np.testing.assert_allclose(j.gains.toarray(), dense)
    assert j.queries().tolist() == np.flatnonzero((dense >= 0.5).any(axis=1)).tolist()
    q = j.queries()[:7]
    g, r = j.block(q)
    np.testing.assert_allclose(g, dense[q])
    assert (r == (dense[q] >= 0.5)).all()


def test_catalog_ndcg_is_the_same_in_any_block_size():
    p = _pairs(80)
    rows = np.unique(np.concatenate([p.src, p.tgt]))
    j = Judgments(p.src, p.tgt, p.score, p.labelled, rows, 0.5)
    space = np.random.default_rng(1).normal(size=(len(rows), 8))
    assert catalog_ndcg(space, j, 10, block=7) == pytest.approx(catalog_ndcg(space, j, 10, block=1000))


def test_oracle_matrix_ranks_listed_pairs_first():
    p = _pairs(40)
    rows = np.unique(np.concatenate([p.src, p.tgt]))
    o = oracle_matrix(p, rows, np.where(p.labelled, p.score, np.nan).astype(np.float64)).toarray()
    listed = _dense(p, rows) > 0
    assert (o[listed] >= 1.0).all() and (o[~listed] == 0).all()


def _peak_bytes(n_songs: int) -> int:
    songs = random_songs(n=n_songs, length=4, frames=16, seed=2)
    test = _pairs(n_songs, seed=3)
    torch.manual_seed(0)
    cfg = AudioSiameseConfig(encoder=AudioEncoderConfig(conv_channels=(4, 8), dense=(8,), embed_dim=8, dropout=0.0),
                             dense=(8,), dropout=0.0)
    model = build_model("audio_siamese", cfg, 10).eval()
    base = {"audio_mean_cosine": audio_unit_means(songs, np.arange(n_songs))}
    tracemalloc.start()
    try:
        block, curve, _ = evaluate_ranking(model, songs, test, torch.device("cpu"), False, ECFG, RCFG, base,
                                           np.where(test.labelled, test.score, np.nan).astype(np.float64))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert block["queries"] == ECFG.max_queries and block["model"]["ndcg@10"] is not None
    assert block["served_vs_exhaustive_recall@10"]["50"] > 0.9
    assert block["model_pair_decoder"]["queries"] == ECFG.decoder_queries  # a seeded subset: Q x T decoder calls
    return peak


def test_ranking_evaluation_memory_grows_with_the_catalog_not_its_square():
    """Same queries, a catalog 4 times larger: linear memory grows about 4x, a T x T matrix 16x."""
    small, large = _peak_bytes(600), _peak_bytes(2400)
    assert large / small < 6, (small, large)
    assert large < 2400 ** 2 * 8  # one dense float64 T x T matrix would need this much alone


def test_pair_dots_in_blocks_are_one_gathers_products_and_hold_one_block():
    """The calibration's raw scores of the test pairs: gathered in blocks, bit for bit what one gather of
    every pair gives, while the memory held is one block's rows, not every pair's."""
    from songsim.judge.evaluate_ranking import pair_dots

    rng = np.random.default_rng(0)
    space = rng.normal(size=(500, 256)).astype(np.float32)
    left, right = rng.integers(0, 500, 20_011), rng.integers(0, 500, 20_011)
    whole = np.einsum("pd,pd->p", space[left], space[right])
    tracemalloc.start()
    try:
        got = pair_dots(space, left, right, block=1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.dtype == whole.dtype and got.tobytes() == whole.tobytes()
    assert peak < 4 * 1024 * 256 * 4 + got.nbytes  # one gather of all pairs would be 2 x 20,011 x 256 x 4 bytes
    assert pair_dots(space, left[:0], right[:0]).shape == (0,)


def _peak_with_blocks(monkeypatch, max_queries: int) -> int:
    import songsim.judge.evaluate_ranking as er

    monkeypatch.setattr(er, "QUERY_BLOCK", 16)
    # the bootstrap's resamples grow with the queries (2,000 x Q), by design: not what is measured here
    monkeypatch.setattr(er, "paired_bootstrap", lambda a, b, seed=0: {})
    songs = random_songs(n=1500, length=4, frames=16, seed=2)
    test = _pairs(1500, seed=3)
    torch.manual_seed(0)
    cfg = AudioSiameseConfig(encoder=AudioEncoderConfig(conv_channels=(4, 8), dense=(8,), embed_dim=8, dropout=0.0),
                             dense=(8,), dropout=0.0)
    model = build_model("audio_siamese", cfg, 10).eval()
    ecfg = EvaluateConfig(**{**ECFG.__dict__, "max_queries": max_queries, "decoder_queries": 16})
    base = {"audio_mean_cosine": audio_unit_means(songs, np.arange(len(songs)))}
    tracemalloc.start()
    try:
        block, _, _ = er.evaluate_ranking(model, songs, test, torch.device("cpu"), False, ecfg, RCFG, base, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert block["queries"] == max_queries
    return peak


def test_ranking_evaluation_keeps_no_query_blocks_catalog_wide_arrays(monkeypatch):
    """20 query blocks instead of 2 over the same catalog: what is kept per block (the exhaustive top 10) is
    10 ids a query, not the block's (Q, T) argsort (before: 20 x 16 x 1,500 x 8 bytes held to the end, and
    this ratio was 2.5)."""
    _peak_with_blocks(monkeypatch, 16)  # the first call's imports and caches are not what is measured
    few, many = _peak_with_blocks(monkeypatch, 32), _peak_with_blocks(monkeypatch, 320)
    assert many / few < 1.5, (few, many)
