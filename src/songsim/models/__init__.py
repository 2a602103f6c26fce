"""Models. This package root stays torch-free: it only re-exports the model registry and configs."""

from songsim.models.configs import (
    AudioEncoderConfig,
    AudioSiameseConfig,
    FusedConfig,
    LyricsClassifierConfig,
    LyricsEncoderConfig,
    LyricsRegressorConfig,
)
from songsim.models.registry import MODELS, ModelSpec, get, model_configs

__all__ = [
    "MODELS", "ModelSpec", "get", "model_configs", "AudioEncoderConfig", "AudioSiameseConfig", "FusedConfig",
    "LyricsClassifierConfig", "LyricsEncoderConfig", "LyricsRegressorConfig",
]
