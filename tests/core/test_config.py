"""Typed params: every section loads; unknown, missing and mistyped keys fail naming the key."""

import copy

import pytest
import yaml

from songsim.core.config import ConfigError, from_dict, load_params, model_section, section, to_dict
from songsim.core.config import ExtractPairsConfig as EP
from songsim.models import MODELS, model_configs
from tests.conftest import ROOT


def _write(tmp_path, params):
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(params))
    return p


def test_repo_params_load(base_params):
    params = load_params(ROOT / "params.yaml", model_configs())
    assert section(params, "train").seed == base_params["train"]["seed"]
    fused = model_section(params, "fused", MODELS["fused"].config)
    assert fused.optim.scheduler == "cosine" and fused.model.merge == ("concat", "diff", "prod")
    assert to_dict(fused.model)["lyrics"]["lstm_units"] == base_params["fused"]["model"]["lyrics"]["lstm_units"]


@pytest.mark.parametrize("mutate,msg", [
    (lambda p: p["train"].update(sede=1), "unknown key train.sede"),
    (lambda p: p["train"].pop("seed"), "missing key train.seed"),
    (lambda p: p["fused"]["model"]["lyrics"].update(units=3), "unknown key fused.model.lyrics.units"),
    (lambda p: p["fused"]["optim"].pop("lr"), "missing key fused.optim.lr"),
    (lambda p: p["splits"].update(mode="random"), "splits.mode: 'random' is not one of track, artist, pair"),
    (lambda p: p["splits"].update(lyrics_ratios=[0.5, 0.5, 0.5]), "sum to 1"),
    (lambda p: p["chunk_audio"].update(float16="yes"), "chunk_audio.float16: expected true/false"),
    (lambda p: p["train"].update(seed=1.5), "train.seed: expected an integer"),
    (lambda p: p["audio_siamese"]["model"].update(merge=["concat", "xor"]), "audio_siamese.model.merge"),
    (lambda p: p.update(extra={}), "unknown section extra"),
    (lambda p: p["extract_pairs"].update(max_quarantine_frac=float("nan")), "expected a finite number"),
    (lambda p: p["expand_lyrics"].update(max_quarantine_frac=".nan"), "expected a number"),
    (lambda p: p["synth"]["coverage"].update(lyric=0.2), "unknown key synth.coverage.lyric"),
    (lambda p: p["synth"]["coverage"].pop("mxm_test"), "missing key synth.coverage.mxm_test"),
    (lambda p: p["synth"]["coverage"].update(audio=0.0), "synth.coverage.audio: a share in (0, 1], got 0.0"),
    (lambda p: p["synth"]["coverage"].update(lastfm=1.2), "synth.coverage.lastfm: a share in (0, 1]"),
    (lambda p: p["synth"]["coverage"].update(mxm_test=1.0), "synth.coverage.mxm_test: a share in"),
    (lambda p: p["synth"].update(size="huge"), "synth.size: 'huge' is not one of tiny, default, medium, large"),
])
def test_bad_params_fail_clearly(tmp_path, base_params, mutate, msg):
    params = copy.deepcopy(base_params)
    mutate(params)
    with pytest.raises(ConfigError, match=msg.replace(".", r"\.").replace("(", r"\(")):
        load_params(_write(tmp_path, params), model_configs())


def test_from_dict_is_strict_and_frozen():
    cfg = from_dict(EP, {"min_score": 0, "symmetric": True, "merge": "max", "max_quarantine_frac": 0.1,
                         "max_member_bytes": 1000, "max_member_ratio": 50})
    assert cfg.min_score == 0.0 and isinstance(cfg.min_score, float)
    with pytest.raises(AttributeError):
        cfg.min_score = 1.0  # frozen


def test_the_demo_coverage_is_the_dense_preset_and_sizes_match_the_world(base_params):
    """params.yaml's synth.coverage is DENSE (the demo world, byte for byte as before coverage was a param);
    synth.size accepts exactly the world's presets."""
    from songsim.core.config import WORLD_SIZES
    from songsim.core.published import DENSE
    from songsim.synth.world import SIZES

    assert section(base_params, "synth").coverage == DENSE
    assert WORLD_SIZES == tuple(SIZES)
