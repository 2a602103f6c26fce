"""One entry per model: everything the pipeline needs to know about it, in one place (torch-free).

Adding a model means adding its config dataclass (``configs.py``), its ``nn.Module`` (``nets.py``) and
one :class:`ModelSpec` here; the params layer, training, evaluation, benchmarks, ``dvc.yaml``'s
``foreach`` lists (checked by a test) and the CLI all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from songsim.models.configs import (
    AudioSiameseConfig,
    FusedConfig,
    LyricsClassifierConfig,
    LyricsRegressorConfig,
)

SETS = ("lyrics", "multimodal", "audio", "catalog")  # the split sets written by build_splits
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config: type  # the model's config dataclass (params section ``<name>.model``)
    split_set: str  # which split set it trains and is tested on
    task: str  # classification (BCE on the 0/1 label) | regression (MSE on the score)
    builder: str  # class name in songsim.models.nets, called as cls(config, vocab_size)
    lyrics: str | None  # attribute holding the lyrics encoder, on the config and on the module alike
    audio: str | None  # attribute holding the audio encoder, likewise
    short: str  # prefix of its DVC metrics (clf.acc, fus.mae, ...): unique, short, so `dvc exp show` stays narrow
    partial: bool = False  # a song needs only one of the model's modalities (the model stands in for the other)

    @property
    def uses_lyrics(self) -> bool:
        return self.lyrics is not None

    @property
    def uses_audio(self) -> bool:
        return self.audio is not None

    @property
    def modalities(self) -> list[str]:
        """What the model reads, in the order of its vector blocks: ``lyrics``, ``audio``, or both."""
        return [m for m, used in (("lyrics", self.uses_lyrics), ("audio", self.uses_audio)) if used]

    def lyrics_config(self, cfg: Any) -> Any:
        """The lyrics encoder's config inside this model's config, or None."""
        return getattr(cfg, self.lyrics) if self.lyrics else None

    def serves(self, has_lyrics: bool, has_audio: bool) -> bool:
        """Whether this model embeds a song that has (or lacks) lyrics and audio."""
        have = [h for h, used in ((has_lyrics, self.uses_lyrics), (has_audio, self.uses_audio)) if used]
        return any(have) if self.partial else all(have)

    def bag_words(self, cfg: Any) -> int:
        """What ``learn.data.load_songs(bag_words=...)`` reads for this model: 0 for the token sequence (or
        no lyrics), else the most distinct words per song its lyrics encoder reads with their counts."""
        enc = self.lyrics_config(cfg)
        return enc.words_read if enc is not None else 0

    def encoder(self, module: Any, modality: str) -> Any:
        """The model's ``lyrics`` or ``audio`` encoder sub-module, or None when it has none."""
        attr = {"lyrics": self.lyrics, "audio": self.audio}[modality]
        return getattr(module, attr) if attr else None


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec("lyrics_classifier", LyricsClassifierConfig, "lyrics", "classification", "LyricsPairModel",
                  lyrics="encoder", audio=None, short="clf"),
        ModelSpec("lyrics_regressor", LyricsRegressorConfig, "lyrics", "regression", "LyricsPairModel",
                  lyrics="encoder", audio=None, short="lyr"),
        ModelSpec("audio_siamese", AudioSiameseConfig, "audio", "regression", "AudioSiamese",
                  lyrics=None, audio="encoder", short="aud"),
        ModelSpec("fused", FusedConfig, "catalog", "regression", "FusedModel", lyrics="lyrics", audio="audio",
                  short="fus", partial=True),
    )
}


def get(name: str) -> ModelSpec:
    """The spec of model ``name``; a ``KeyError`` naming the known models otherwise."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r} (one of {', '.join(MODELS)})")
    return MODELS[name]


def model_configs() -> dict[str, type]:
    """Model section name -> its config dataclass, for the params layer."""
    return {n: s.config for n, s in MODELS.items()}
