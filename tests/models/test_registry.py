"""One registry entry per model: it builds, its encoders are where it says, and model configs stay
independent of the params layer (plain ValueError, turned into a ConfigError naming the key there)."""

import pytest

from songsim.core.config import ConfigError, model_section
from songsim.models import MODELS, get, model_configs, registry
from songsim.models.configs import AudioEncoderConfig, LyricsEncoderConfig, LyricsRegressorConfig
from songsim.models.nets import AudioEncoder, LyricsEncoder, build_model

SMALL_L = LyricsEncoderConfig(embedding_dim=8, lstm_units=(4,))
SMALL_A = AudioEncoderConfig(conv_channels=(4,), dense=(8,), embed_dim=4)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_builds_and_exposes_its_encoders(name):
    spec = MODELS[name]
    kw = {}
    if spec.lyrics:
        kw[spec.lyrics] = SMALL_L
    if spec.audio:
        kw[spec.audio] = SMALL_A
    cfg = spec.config(**kw)
    model = build_model(name, cfg, vocab_size=20)
    assert isinstance(spec.encoder(model, "lyrics"), LyricsEncoder) == spec.uses_lyrics
    assert isinstance(spec.encoder(model, "audio"), AudioEncoder) == spec.uses_audio
    assert (spec.lyrics_config(cfg) is SMALL_L) == spec.uses_lyrics
    assert spec.split_set in registry.SETS and spec.task in ("classification", "regression")
    # a model standing in for a missing modality trains on the catalog set (songs with either)
    assert spec.partial == (spec.split_set == "catalog")
    assert model_configs()[name] is spec.config


def test_unknown_model_names_the_known_ones():
    with pytest.raises(KeyError, match="lyrics_classifier"):
        get("nope")
    with pytest.raises(KeyError):
        build_model("nope", None, 3)


def test_model_configs_raise_value_error_and_the_params_layer_names_the_key():
    with pytest.raises(ValueError) as e:
        LyricsRegressorConfig(merge=("xor",)).validate()
    assert not isinstance(e.value, ConfigError)
    params = {"lyrics_regressor": {"model": {"encoder": {"embedding_dim": 8, "glove_init": False,
                                                         "freeze_embeddings": False, "lstm_units": [4],
                                                         "dropout": 1.5, "packed": True, "kind": "bilstm",
                                                         "bag_dim": 8, "input": "tokens", "bag_words": 16,
                                                         "word_prior": "none", "stopwords": "none"},
                                             "merge": ["concat"], "dense": [4], "dropout": 0.1, "l2": 0.0},
                                   "optim": {"lr": 0.1, "epochs": 1, "batch_size": 2, "scheduler": "none",
                                             "t_max": 1, "eta_min": 0.0, "members": 1}}}
    with pytest.raises(ConfigError, match=r"lyrics_regressor\.model\.encoder: encoder\.dropout must be in"):
        model_section(params, "lyrics_regressor", MODELS["lyrics_regressor"].config)


def test_metric_prefixes_are_short_and_unique():
    shorts = [s.short for s in MODELS.values()]
    assert len(set(shorts)) == len(shorts) and all(len(x) <= 3 for x in shorts)
