"""The first hour on real data: the ingest stages run on the genuine samples through params laid out like
README's "Using the real datasets", and what cannot work (no track with both lyrics and audio) stops at
build_splits with one actionable line, never a NaN metric or a traceback."""

import logging

import pytest
import yaml

from songsim.cli import main, run
from songsim.learn.splits import SplitError
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def real_params(tmp_path_factory, realdata):
    root = tmp_path_factory.mktemp("real")
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["paths"] = {k: str(root / v) for k, v in p["paths"].items()}
    p["raw"] = {"lastfm": str(realdata / "lastfm"),  # a folder of Last.fm JSON trees (or zips, or the .db)
                "mxm": str(realdata / "mxm" / "mxm_dataset_test.excerpt_b.txt"),  # one mxm_dataset_*.txt
                "msd": str(realdata / "msd_h5_tree"),  # the A/B/C/TR....h5 tree
                "glove": str(realdata / "other" / "glove.6B.50d.excerpt.txt"), "oracle": "", "latent": "",
                "mxm_reverse_mapping": str(realdata / "mxm" / "mxm_reverse_mapping.txt")}
    p["chunk_audio"]["workers"] = 1
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def test_ingest_stages_run_on_the_genuine_samples(real_params):
    assert run("extract_pairs", str(real_params))["kept"] > 1000
    assert run("expand_lyrics", str(real_params))["kept"] > 8000
    assert run("list_msd", str(real_params))["kept"] == 281
    assert run("chunk_audio", str(real_params))["kept"] == 281


def test_build_splits_stops_with_one_actionable_line(real_params, caplog):
    test_ingest_stages_run_on_the_genuine_samples(real_params)
    with pytest.raises(SplitError, match=r"multimodal set: too few labelled pairs in train, val, test .*"
                                         r"both for 0"):
        run("build_splits", str(real_params))
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="songsim"):
        assert main(["build_splits", "--params", str(real_params)]) == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "build_splits failed: SplitError: " in errors[0].getMessage()
    assert errors[0].exc_info is None  # no traceback without -v
