"""The model set-up done before the first training step: GloVe rows in the lyrics embedding, the audio
encoder's frame normalisation, the bag encoder's fixed word prior and the output's starting level, each
from the training songs or pairs only; or the audio tower of a trained audio model (fused's
``audio_init``), whose training songs must be training songs of the model it starts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from songsim.core.checkpoint import load_checkpoint
from songsim.core.config import ConfigError, SplitsConfig, to_dict
from songsim.learn.data import SongTable
from songsim.models import registry
from songsim.models.nets import PairModel, members_of


def fit_audio_normalisation(spec: registry.ModelSpec, model: PairModel, songs: SongTable, rows: np.ndarray) -> None:
    """Per-channel mean/std of the training songs' frames, stored in the audio encoder's buffers."""
    enc = spec.encoder(model, "audio")
    if enc is None or songs.audio is None:
        return
    if songs.has_audio is not None:  # a partial table: only the songs with audio (the others are zeros)
        rows = rows[songs.has_audio[rows]]
    x = songs.audio[rows].astype(np.float32)  # (S, 24, T)
    mean = x.mean(axis=(0, 2))
    std = x.std(axis=(0, 2))
    enc.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))


def fit_word_prior(spec: registry.ModelSpec, model: PairModel, songs: SongTable, rows: np.ndarray,
                   stop_ids: np.ndarray | None = None) -> dict | None:
    """The bag encoder's fixed word prior (``encoder.word_prior``, ``encoder.stopwords``): each word's
    ``log((1 + S) / (1 + df))`` over the training ``rows`` (``word_prior: idf``; S the training songs
    with lyrics, df how many of them use the word, so a word no training song uses gets the largest
    value) or 1, and 0 for the vocabulary ids ``stop_ids`` (``stopwords: english`` or ``style``; with
    ``style`` those ids also make the encoder's ``style_mask``, the words its style head reads). Returns a
    summary for the train report, or None when the encoder has no prior."""
    enc = spec.encoder(model, "lyrics")
    if enc is None or not enc.cfg.fixed_word_weights:
        return None
    size = enc.word_prior.shape[0]
    prior = np.ones(size)
    out: dict = {}
    if enc.cfg.word_prior == "idf":
        if songs.tokens is None or songs.counts is None:
            raise ConfigError("encoder.word_prior: idf needs the bag input (encoder.input: counts)")
        if songs.has_lyrics is not None:
            rows = rows[songs.has_lyrics[rows]]
        tok = songs.tokens[rows].astype(np.int64).ravel()  # distinct words per song: a count is a song count
        df = np.bincount(tok[tok > 0], minlength=size)[:size]
        prior = np.log((1.0 + len(rows)) / (1.0 + df))
        out["idf_songs"] = int(len(rows))
    if enc.cfg.stopwords != "none":
        if stop_ids is None:
            raise ConfigError(f"encoder.stopwords: {enc.cfg.stopwords} needs the vocabulary's stopword ids")
        prior[stop_ids[stop_ids < size]] = 0.0
        out["stopwords"] = int((stop_ids < size).sum())
        if enc.cfg.stopwords == "style":
            mask = np.zeros(size, dtype=np.float32)
            mask[stop_ids[stop_ids < size]] = 1.0
            with torch.no_grad():
                enc.style_mask.copy_(torch.from_numpy(mask))
    prior[0] = 0.0
    with torch.no_grad():
        enc.word_prior.copy_(torch.from_numpy(prior.astype(np.float32)))
    return out


def init_output_bias(model: PairModel, target: np.ndarray, loss_kind: str) -> float:
    """Start the decoder's sigmoid output at the constant its loss fits best, so the first steps learn
    features instead of walking the output level down from 0.5: the targets' median (``l1``), their mean
    (``mse``, ``huber``) or the share of positives (``classification``), kept in [0.01, 0.99].
    ``target``: ``(N,)`` the training pairs' targets. Returns the starting level."""
    level = float(np.median(target)) if loss_kind == "l1" else float(np.mean(target))
    level = min(max(level, 0.01), 0.99)
    with torch.no_grad():
        model.decoder.net[-1].bias.fill_(math.log(level / (1.0 - level)))  # sigmoid(bias) = level
    return level


def init_embeddings(spec: registry.ModelSpec, model: PairModel, glove) -> dict | None:
    """Copy GloVe vectors into the lyrics embedding where the encoder asks for it."""
    enc = spec.encoder(model, "lyrics")
    if enc is None or not enc.cfg.glove_init:
        return None
    if glove is None:
        raise ConfigError("encoder.glove_init is true but raw.glove is empty")
    if glove.dim != enc.cfg.embedding_dim:
        raise ConfigError(f"encoder.embedding_dim is {enc.cfg.embedding_dim} but GloVe vectors have {glove.dim}")
    with torch.no_grad():
        w = enc.embedding.weight
        found = torch.from_numpy(glove.found)
        w[found] = torch.from_numpy(glove.vectors)[found]
        w[0] = 0.0
    return glove.coverage


def check_warm_start_splits(cfg: SplitsConfig, own_set: str, warm_set: str) -> None:
    """A model may start from one trained on another split set only when no song (or pair) of its own
    validation or test split was a training song of the other: the sets must split tracks (or artists) by
    the same ratios, which put every track in the same split of every set (``learn.splits``)."""
    ratios = {s: getattr(cfg, f"{s}_ratios") for s in (own_set, warm_set)}
    if cfg.mode == "pair":
        raise ConfigError(f"splits.mode: pair splits each set's pairs at random, so the {warm_set} model's "
                          f"training pairs include {own_set} test pairs; set fused.model.audio_init: none")
    if ratios[own_set] != ratios[warm_set]:
        raise ConfigError(f"splits.{own_set}_ratios {list(ratios[own_set])} and splits.{warm_set}_ratios "
                          f"{list(ratios[warm_set])} differ, so songs of one set's test split train the other; "
                          f"make them equal or set fused.model.audio_init: none")


def audio_tower_states(path: str | Path, audio_cfg) -> list[dict[str, torch.Tensor]]:
    """The audio encoders' weights (frame normalisation included) of the trained audio model at ``path``,
    one per ensemble member, for a model whose audio encoder config ``audio_cfg`` must be the same."""
    if not Path(path).exists():
        raise ConfigError(f"fused.model.audio_init: audio_siamese, but {path} does not exist: train it first "
                          f"(dvc repro train@audio_siamese)")
    model, state = load_checkpoint(path)
    members = members_of(model)
    theirs, ours = to_dict(members[0].cfg.encoder), to_dict(audio_cfg)
    if theirs != ours:
        diff = {k: (v, ours.get(k)) for k, v in theirs.items() if ours.get(k) != v}
        raise ConfigError(f"fused.model.audio must equal {state['model']}.model.encoder to start from {path}; "
                          f"differs in (theirs, ours): {diff}")
    return [{k: v.detach().clone() for k, v in m.encoder.state_dict().items()} for m in members]
