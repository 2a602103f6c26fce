"""Serving "songs like X": the ranking space, the index over it, the recommender and its errors."""

import numpy as np
import pytest
import torch
import yaml

from songsim.core.calibration import block_masks, block_presence, calibrate_pairs, pair_groups
from songsim.core.config import RetrievalConfig, read_params
from songsim.serve.recommender import MissingModality, Recommender, RetrievalError, UnknownTrack, index_block_masks
from songsim.serve.retrieval import ann_search, build_index, ranking_space

CFG = RetrievalConfig(candidates=20, hnsw_m=16, ef_construction=40, ef_search=64, build_threads=1, batch_size=64)


def test_ranking_space_is_the_weighted_mean_of_the_parts_cosines():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5)) * [[1, 1, 1, 9, 9]]

    def cos(x, y):
        return x @ y / np.linalg.norm(x) / np.linalg.norm(y)

    s = ranking_space(np.stack([a, b]), [3, 2])  # equal weights by default
    assert s[0] @ s[1] == pytest.approx((cos(a[:3], b[:3]) + cos(a[3:], b[3:])) / 2, rel=1e-5)
    s = ranking_space(np.stack([a, b]), [3, 2], [0.8, 0.2])
    assert s[0] @ s[1] == pytest.approx(0.8 * cos(a[:3], b[:3]) + 0.2 * cos(a[3:], b[3:]), rel=1e-5)
    with pytest.raises(ValueError, match="do not add up"):
        ranking_space(np.stack([a, b]), [3, 3], [0.5, 0.5])
    with pytest.raises(ValueError, match="ranking weights"):
        ranking_space(np.stack([a, b]), [3, 2], [1.0])


def test_ranking_space_matches_the_models(base_params):
    from songsim.core.config import model_section
    from songsim.models import MODELS
    from songsim.models.nets import build_model

    sec = model_section(base_params, "fused", MODELS["fused"].config)
    torch.manual_seed(0)
    model = build_model("fused", sec.model, 30)
    with torch.no_grad():
        model.rank_mix.copy_(torch.tensor([0.7, -0.3]))
    v = torch.randn(6, sum(model.vector_blocks()))
    np.testing.assert_allclose(model.rank_space(v).detach().numpy(),
                               ranking_space(v.numpy(), model.vector_blocks(), model.rank_weights().tolist()),
                               rtol=1e-5, atol=1e-6)


def test_index_returns_planted_neighbours():
    rng = np.random.default_rng(1)
    catalog = rng.normal(size=(2000, 24)).astype(np.float32)
    q = catalog[7]
    planted = q + 0.01 * rng.normal(size=(3, 24)).astype(np.float32)  # near-copies of song 7
    catalog = np.vstack([catalog, planted])
    index = build_index(ranking_space(catalog, [24]), CFG)
    got = ann_search(index, ranking_space(q[None], [24]), 4, CFG.ef_search)[0]
    assert set(got) == {7, 2000, 2001, 2002}


@pytest.fixture(scope="module")
def rec(tiny_run):
    path, _ = tiny_run
    return Recommender.from_params(read_params(path), "fused")


def test_similar_serves_the_models_own_ranking_with_calibrated_scores(rec):
    q = rec.ids[0]
    hits = rec.similar(q, k=5)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5] and q not in [h.track_id for h in hits]
    raw = [h.rank_score for h in hits]
    assert raw == sorted(raw, reverse=True)
    assert rec.calibration is not None and len(rec.calibration["x"]) == len(rec.calibration["y"])
    # calibrated: each hit through its kind of pair's map (the tiny run has two kinds with maps of their
    # own), so monotone in the ranking score within a kind, in [0, 1]; by id and through the index alike
    assert rec.by_kind and len(rec.calibration["groups"]) >= 2
    space = ranking_space(np.array(rec.vectors, dtype=np.float32), rec.blocks, rec.weights)
    has = block_presence(space, rec.blocks)
    row = {rec.ids[i]: i for i in range(len(rec.ids))}
    kinds = pair_groups(has[[0] * len(hits)], has[[row[h.track_id] for h in hits]])
    # the masks read from the index at load (a chunk at a time) are those of the song vectors
    np.testing.assert_array_equal(rec.masks, block_masks(space, rec.blocks))
    np.testing.assert_array_equal(index_block_masks(rec.index, rec.blocks, chunk=7), rec.masks)
    shown = np.array([h.score for h in hits])
    np.testing.assert_allclose(shown, calibrate_pairs(np.array(raw), rec.calibration, kinds), atol=1e-6)
    assert all(0 <= s <= 1 for s in shown)
    for g in set(kinds.tolist()):
        assert list(shown[kinds == g]) == sorted(shown[kinds == g], reverse=True)
    live = rec.similar(q, k=5, candidates=rec.candidates + 1)  # through the index, not the neighbour lists
    assert [h.track_id for h in live] == [h.track_id for h in hits]
    assert [h.score for h in live] == pytest.approx(shown.tolist(), abs=1e-5)  # float32 lists vs live
    # the served list is the exhaustive ranking by the same function (ranking-space inner products)
    others = [i for i in range(len(rec.ids)) if rec.ids[i] != q]
    exhaustive = space[others] @ space[0]
    best = [rec.ids[others[j]] for j in np.argsort(-exhaustive, kind="stable")[:5]]
    assert [h.track_id for h in hits] == best
    assert [h.rank_score for h in hits] == pytest.approx(np.sort(exhaustive)[::-1][:5].tolist(), rel=1e-5)
    assert hits[0].artist and hits[0].title  # readable results from the song metadata table


def test_exclude_same_artist(rec):
    q = rec.ids[3]
    mine = rec.artist_of(q)
    hits = rec.similar(q, k=len(rec.ids), exclude_same_artist=True, candidates=len(rec.ids))
    assert mine is not None and all(rec.artist_of(h.track_id) != mine for h in hits)


def test_unknown_id_and_missing_modality(rec):
    q = rec.ids[0]
    with pytest.raises(UnknownTrack, match="unknown track id 'TRNOPE'"):
        rec.similar("TRNOPE")
    with pytest.raises(UnknownTrack, match="closest known: " + q) as e:
        rec.similar(q[:-1] + ("0" if q[-1] != "0" else "1"))
    assert q in e.value.closest and set(e.value.closest) <= set(rec.ids)  # what /similar's 404 body lists



def test_fused_serves_every_song_with_either_modality_and_audio_refuses_lyrics_only(rec, tiny_run):
    """fused stands in for a missing modality: a lyrics-only and an audio-only song are asked about and
    returned; audio_siamese refuses the lyrics-only song, naming the models that can serve it."""
    lyrics_only = sorted(rec.catalog["lyrics"] - rec.catalog["audio"])[0]
    audio_only = sorted(rec.catalog["audio"] - rec.catalog["lyrics"])[0]
    assert set(rec.ids) == rec.catalog["lyrics"] | rec.catalog["audio"]  # the whole catalog is indexed
    for q in (lyrics_only, audio_only):
        hits = rec.similar(q, k=5)
        assert len(hits) == 5 and q not in [h.track_id for h in hits]
    aud = Recommender.from_params(read_params(tiny_run[0]), "audio_siamese")
    with pytest.raises(MissingModality, match="has no audio: model audio_siamese needs audio; "
                                              "models that can serve it: lyrics_regressor, fused") as e:
        aud.similar(lyrics_only)
    assert isinstance(e.value, RetrievalError)
    assert (e.value.missing, e.value.can_serve) == (["audio"], ["lyrics_regressor", "fused"])  # the 422 body


def test_cli_similar_formats_and_batch_queries(tiny_run, tmp_path, capsys):
    from songsim.cli import main

    path, params = tiny_run
    rec = Recommender.from_params(read_params(path), "audio_siamese", with_catalog=False)
    q = rec.ids[0]
    assert main(["similar", q, "-k", "3", "--model", "audio_siamese", "--params", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"songs like {q}:" and out[1].split()[:3] == ["rank", "track_id", "artist"] and len(out) == 5
    qf = tmp_path / "q.txt"
    qf.write_text(f"{q}\nTRNOPE\n{rec.ids[1]}\n")
    assert main(["similar", "--queries", str(qf), "-k", "2", "--model", "audio_siamese", "--format", "csv",
                 "--params", str(path)]) == 1  # one bad query: reported, the others answered
    cap = capsys.readouterr()
    assert cap.out.splitlines()[0] == "query,rank,track_id,artist,title,score,rank_score"
    assert len(cap.out.splitlines()) == 5
    assert "unknown track id 'TRNOPE'" in cap.err
    assert main(["similar", q, "--model", "audio_siamese", "--format", "json", "--params", str(path)]) == 0
    rows = [yaml.safe_load(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 10 and rows[0]["query"] == q and rows[0]["rank"] == 1


def test_a_catalog_query_imports_neither_torch_nor_polars(tiny_run):
    """``songsim similar <id>`` reads the index folder only (its manifest carries the ranking weights and the
    calibration), so the command starts fast: no torch, no polars, no h5py (bench/README: its wall time)."""
    import subprocess
    import sys

    path, _ = tiny_run
    rec = Recommender.from_params(read_params(path), "fused")
    code = ("import sys; from songsim.cli import main; rc = main(['similar', sys.argv[1], '-k', '3', '--params', "
            "sys.argv[2]]); heavy = [m for m in ('torch', 'polars', 'h5py') if m in sys.modules]; "
            "print('HEAVY', heavy); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, rec.ids[0], str(path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout and out.stdout.count(rec.ids[0]) == 1


def test_the_precomputed_answers_are_the_live_ones(tiny_run):
    """The index stage computes every song's answer once (neighbours.npy): read back, it is what the
    recommender computes live through the index, with or without other artists only, explained alike."""
    path, _ = tiny_run
    rec = Recommender.from_params(read_params(path), "fused")
    assert rec.neighbours is not None and rec.neighbours.shape == (len(rec.ids), min(len(rec.ids) - 1, rec.candidates))
    same = 0
    for tid in list(rec.ids)[:80]:
        listed = rec.similar(tid, 10)
        row = rec.ids.row(tid)
        q = rec.index.reconstruct(row)
        live = rec._rank(q, 10, None, row, None, None)  # the live path: the index searched now
        assert [h.track_id for h in listed] == [h.track_id for h in live]
        assert [h.rank_score for h in listed] == pytest.approx([h.rank_score for h in live], abs=1e-5)
        mine = rec.artist_of(tid)
        other = rec.similar(tid, 10, exclude_same_artist=True)
        assert [h.track_id for h in other] == [h.track_id for h in rec._rank(q, 10, None, row, mine, None)]
        same += 1
    hits = rec.similar(rec.ids[0], 3, explain=True)
    assert all(h.why and all("percentile" in m for m in h.why["modalities"].values() if "missing" not in m)
               for h in hits)
    assert same == 80
