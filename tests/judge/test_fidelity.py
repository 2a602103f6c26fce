"""The fidelity stage: distances that mean what they say, the genuine samples against themselves and
against a tiny world, and the skip when no reference is present (the coverage section still computed)."""

import json
from pathlib import Path

import numpy as np
import pytest

from songsim.judge.fidelity import PLOTTED, compare, equal_corpora, gather, ks, run, total_variation, word_ranks


def test_distances():
    rng = np.random.default_rng(0)
    a = rng.normal(size=4000)
    assert ks(a, a) == 0.0 and ks(a, a + 100) == 1.0
    assert ks(a, rng.normal(size=4000)) < 0.05 < ks(a, rng.normal(0.5, 1, 4000))
    assert ks(np.array([1, 2, 3]), np.array([2, 3, 4])) == pytest.approx(1 / 3)
    assert total_variation(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])) == pytest.approx(0.25)
    assert total_variation(np.array([0, 0]), np.array([1, 1])) == 1.0


def _params(tiny_run, realdata, tmp_path):
    _, params = tiny_run
    p = json.loads(json.dumps(params))
    p["fidelity"].update(reference_lastfm=str(realdata / "lastfm" / "lastfm_subset"),
                         reference_mxm=str(realdata / "mxm" / "mxm_dataset_test.excerpt_b.txt"),
                         reference_msd=str(realdata / "msd_h5_tree"))
    for k in ("metrics", "plots", "reports"):
        p["paths"][k] = str(tmp_path / k)
    return p


def test_genuine_samples_match_themselves(realdata):
    from songsim.core.config import FidelityConfig

    cfg = FidelityConfig(str(realdata / "lastfm" / "lastfm_subset"),
                         str(realdata / "mxm" / "mxm_dataset_test.excerpt_b.txt"), str(realdata / "msd_h5_tree"),
                         10000, 400, 50, 0, 0.1, 0.3)
    real, skipped = gather(cfg.reference_lastfm, cfg.reference_mxm, cfg.reference_msd, cfg)
    assert skipped == {}  # the genuine samples read cleanly
    songs = real["mxm_songs"]
    equal_corpora(real, dict(real))
    stats = compare(real, real, 300, 0.1, 0.3)
    # the rank curve depends on corpus size, hence equal corpora: 200 songs use fewer distinct words
    assert word_ranks(songs, 200).max() < 3500 < 4900 < word_ranks(songs, len(songs)).max()
    assert all(v["value"] == 0 and v["pass"] for v in stats.values())
    # what issue 10 measured on the same samples
    assert stats["lastfm_score"]["real"]["median"] == pytest.approx(0.066, abs=1e-3)
    assert stats["lastfm_list_length"]["real"]["n"] == 21
    assert stats["lastfm_empty_share"]["real"] == pytest.approx(4 / 21, abs=1e-4)  # 4 of 21 lists empty
    assert (stats["mxm_words"]["real"]["p10"], stats["mxm_words"]["real"]["median"]) == (pytest.approx(78, abs=1), 185)
    assert stats["msd_segments"]["real"]["median"] == 779 and stats["msd_segments"]["real"]["n"] == 281


def test_stage_on_a_world(tiny_run, realdata, tmp_path):
    p = _params(tiny_run, realdata, tmp_path)
    out = run(p)
    rep = json.loads((tmp_path / "reports" / "fidelity.json").read_text())
    assert rep["checked"] == len(rep["statistics"]) == 13 + 24 and rep["passed"] + len(rep["failed"]) == rep["checked"]
    assert out["statistics"]["mxm_words"]["world"]["n"] > 0 and out["statistics"]["timbre_03"]["world"]["n"] > 0
    assert rep["failed"] == []  # the world is calibrated at every size, the tiny one included (issue 10)
    assert rep["bad_records_skipped"] == {"reference": {}, "world": {}}
    assert rep["coverage"]["counts"]["bad_records_skipped"] == {} and rep["coverage"]["counts"]["tracks"] > 200
    metrics = json.loads((tmp_path / "metrics" / "fidelity.json").read_text())["fid"]
    assert metrics["checked"] == 37 and {"score", "list_length", "words", "segments", "timbre_max"} <= set(metrics)
    for name in PLOTTED:
        rows = (tmp_path / "plots" / "fidelity" / f"{name}.csv").read_text().splitlines()
        assert rows[0] == "quantile,real,world" and len(rows) == 42


def test_stage_without_reference_skips_with_a_reason(tiny_run, tmp_path):
    _, params = tiny_run
    p = json.loads(json.dumps(params))
    p["fidelity"]["reference_msd"] = str(tmp_path / "nowhere")
    for k in ("metrics", "plots", "reports"):
        p["paths"][k] = str(tmp_path / k)
    out = run(p)
    assert "reference files not found" in out["skipped"] and "nowhere" in out["skipped"]
    assert json.loads(Path(tmp_path / "metrics" / "fidelity.json").read_text()) == {"fid": {"passed": 0, "checked": 0}}
    # the coverage needs only the world and the published figures: computed all the same, and written
    cov = json.loads((tmp_path / "reports" / "fidelity.json").read_text())["coverage"]
    assert cov == out["coverage"] and set(cov["shares"]) == {"lastfm", "lists", "lyrics", "audio", "mxm_test",
                                                              "pairs_per_list"}
    assert cov["shares"]["lyrics"]["published"] == 0.238 and cov["shares"]["lyrics"]["world"] > 0.7  # the dense demo


def test_bad_records_are_counted_not_dropped_silently(tmp_path):
    from collections import Counter

    from songsim.judge.fidelity import mxm_stats

    f = tmp_path / "mxm_dataset_test.txt"
    f.write_text("# TESTING SET\n%a,b,c\nTRAAAAA128F0000001,1,1:2,3:1\nTRAAAAA128F0000002,2,9:x\n"
                 "TRAAAAA128F0000003,3,2:4\n", encoding="utf-8")
    skipped = Counter()
    stats = mxm_stats(f, 10, skipped)
    assert list(stats["mxm_words"]) == [3, 4] and skipped == {"mxm": 1}  # read 3 = kept 2 + skipped 1
