"""The model set-up before the first step: the bag encoder's fixed word weights (IDF over the training
songs, function words at 0), and fused's audio tower started from the trained audio model."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from songsim.core.checkpoint import load_checkpoint
from songsim.core.config import ConfigError, section
from songsim.learn.data import SongTable
from songsim.learn.setup import audio_tower_states, check_warm_start_splits, fit_word_prior
from songsim.models import registry
from songsim.models.configs import LyricsEncoderConfig, LyricsRegressorConfig
from songsim.models.nets import build_model


def _model(prior: str, stopwords: str = "none"):
    enc = LyricsEncoderConfig(embedding_dim=8, dropout=0.0, kind="bag", bag_dim=6, input="counts", bag_words=4,
                              word_prior=prior, stopwords=stopwords)
    return build_model("lyrics_regressor", LyricsRegressorConfig(encoder=enc, dense=(8,), dropout=0.0), 9)


def _songs() -> SongTable:
    tokens = np.array([[1, 2, 0], [1, 3, 0], [1, 2, 3], [4, 0, 0], [0, 0, 0]], dtype=np.int16)  # distinct words
    counts = np.array([[5, 1, 0], [2, 2, 0], [1, 1, 1], [3, 0, 0], [0, 0, 0]], dtype=np.int16)
    has = np.array([True, True, True, True, False])
    return SongTable([f"T{i}" for i in range(5)], tokens, (tokens > 0).sum(1).astype(np.int32), None, counts,
                     has_lyrics=has, has_audio=None)


def test_word_prior_is_the_training_songs_idf():
    model = _model("idf")
    spec = registry.get("lyrics_regressor")
    rows = np.array([0, 1, 2, 4])  # song 3 is not a training song; song 4 has no lyrics and does not count
    out = fit_word_prior(spec, model, _songs(), rows)
    prior = model.encoder.word_prior.numpy()
    s = 3  # training songs with lyrics
    expect = {1: math.log(4 / 4), 2: math.log(4 / 3), 3: math.log(4 / 3), 4: math.log(4 / 1), 8: math.log(4 / 1)}
    for word, value in expect.items():  # word 1 is in every training song: weight 0; unseen words weigh most
        assert prior[word] == pytest.approx(value, abs=1e-6)
    assert prior[0] == 0.0 and out == {"idf_songs": s}
    assert "encoder.word_prior" in model.state_dict()  # the checkpoint carries it


def test_no_word_prior_leaves_the_model_as_it_was():
    model = _model("none")
    assert fit_word_prior(registry.get("lyrics_regressor"), model, _songs(), np.arange(4)) is None
    assert not any("word_prior" in k for k in model.state_dict())


def test_word_prior_needs_the_bag_with_counts():
    songs = _songs()
    songs.counts = None
    with pytest.raises(Exception, match="encoder.input: counts"):
        fit_word_prior(registry.get("lyrics_regressor"), _model("idf"), songs, np.arange(4))
    with pytest.raises(Exception, match="stopword ids"):
        fit_word_prior(registry.get("lyrics_regressor"), _model("none", "english"), _songs(), np.arange(4))
    with pytest.raises(ValueError, match="word_prior"):
        LyricsEncoderConfig(kind="bilstm", word_prior="idf").validate()
    with pytest.raises(ValueError, match="word_prior"):
        LyricsEncoderConfig(kind="bag", word_prior="tfidf").validate()


def test_a_word_with_zero_prior_adds_nothing_to_a_song():
    """With the prior, a word every training song uses (idf 0) leaves a song's vector where it was."""
    model = _model("idf").eval()
    fit_word_prior(registry.get("lyrics_regressor"), model, _songs(), np.array([0, 1, 2]))
    enc = model.encoder
    with torch.no_grad():
        without = enc(torch.tensor([[2, 3, 0]]), torch.tensor([2]), torch.tensor([[1.0, 2.0, 0.0]]))
        with_word1 = enc(torch.tensor([[1, 2, 3]]), torch.tensor([3]), torch.tensor([[9.0, 1.0, 2.0]]))
    torch.testing.assert_close(with_word1, without)


def test_function_words_weigh_zero_and_the_rest_keep_their_prior():
    model = _model("idf", "english")
    out = fit_word_prior(registry.get("lyrics_regressor"), model, _songs(), np.array([0, 1, 2]), np.array([2, 7, 99]))
    prior = model.encoder.word_prior.numpy()
    assert prior[2] == 0.0 and prior[7] == 0.0  # id 99 is outside the vocabulary and is ignored
    assert prior[3] == pytest.approx(math.log(4 / 3)) and prior[8] == pytest.approx(math.log(4))
    assert out == {"idf_songs": 3, "stopwords": 2}
    plain = _model("none", "english")
    fit_word_prior(registry.get("lyrics_regressor"), plain, _songs(), np.arange(3), np.array([2]))
    assert plain.encoder.word_prior.tolist() == [0.0, 1.0, 0.0] + [1.0] * 7  # no idf: 1, function words 0


def test_style_reads_the_function_words_apart_from_the_content_words():
    """``stopwords: style``: the function words weigh 0 in the words' mean, as with ``english``, and are
    read by a head of their own: they move a song's vector only through it, the content words never do."""
    model = _model("none", "style").eval()
    out = fit_word_prior(registry.get("lyrics_regressor"), model, _songs(), np.arange(3), np.array([2]))
    enc = model.encoder
    assert out == {"stopwords": 1} and enc.word_prior.tolist() == [0.0, 1.0, 0.0] + [1.0] * 7
    assert enc.style_mask.tolist() == [0.0, 0.0, 1.0] + [0.0] * 7
    assert "encoder.style_mask" in model.state_dict()  # the checkpoint carries it

    def encode(tokens, counts):
        with torch.no_grad():
            return enc(torch.tensor([tokens]), torch.tensor([len(tokens)]), torch.tensor([counts]))

    content = enc.head(enc._mean(enc.embedding(torch.tensor([1, 3])),
                                 torch.nn.functional.softplus(enc.word_weight(torch.tensor([1, 3])).squeeze(-1))
                                 * torch.tensor([1.0, 1.0]) ** torch.sigmoid(enc.count_logit),
                                 torch.tensor([0, 0]), 1)).detach()
    with torch.no_grad():
        style = enc.style_head(enc.embedding(torch.tensor([2])))  # one function word: its vector is the mean
    torch.testing.assert_close(encode([1, 3, 2], [1.0, 1.0, 4.0]), content + style)
    torch.testing.assert_close(encode([1, 3], [1.0, 1.0]), content + enc.style_head(torch.zeros(1, 8)).detach())
    assert not torch.allclose(encode([1, 3, 2], [1.0, 1.0, 1.0]), encode([1, 3], [1.0, 1.0]))
    with pytest.raises(ValueError, match="stopwords"):
        LyricsEncoderConfig(kind="bilstm", stopwords="style").validate()


def test_audio_tower_states_are_the_trained_audio_models_encoders(tmp_path, tiny_run):
    _, params = tiny_run
    path = f"{params['paths']['models']}/audio_siamese.pt"
    model, _ = load_checkpoint(path)
    cfg = model.cfg.encoder
    states = audio_tower_states(path, cfg)
    assert len(states) == len(model.members) == params["audio_siamese"]["optim"]["members"]
    for state, member in zip(states, model.members):
        own = member.encoder.state_dict()
        assert state.keys() == own.keys() and "feat_mean" in state  # the frame normalisation comes with it
        assert all(torch.equal(state[k], own[k]) for k in own)
    with pytest.raises(ConfigError, match="embed_dim"):  # another architecture cannot take these weights
        audio_tower_states(path, dataclasses.replace(cfg, embed_dim=cfg.embed_dim + 1))
    with pytest.raises(ConfigError, match="train it first"):
        audio_tower_states(tmp_path / "missing.pt", cfg)


def test_a_warm_start_needs_splits_that_keep_every_track_in_one_split(base_params):
    cfg = section(base_params, "splits")
    check_warm_start_splits(cfg, "catalog", "audio")  # equal ratios, track mode: every track one split
    check_warm_start_splits(dataclasses.replace(cfg, mode="artist"), "catalog", "audio")
    with pytest.raises(ConfigError, match="splits.mode: pair"):
        check_warm_start_splits(dataclasses.replace(cfg, mode="pair"), "catalog", "audio")
    with pytest.raises(ConfigError, match="differ"):
        check_warm_start_splits(dataclasses.replace(cfg, audio_ratios=(0.8, 0.1, 0.1)), "catalog", "audio")
