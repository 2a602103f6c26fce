"""Models. This package root stays torch-free: it only names the models, their configs and data sets."""

from songsim.models.configs import (
    AudioEncoderConfig,
    AudioSiameseConfig,
    FusedConfig,
    LyricsClassifierConfig,
    LyricsEncoderConfig,
    LyricsRegressorConfig,
)

MODEL_CONFIGS = {
    "lyrics_classifier": LyricsClassifierConfig,
    "lyrics_regressor": LyricsRegressorConfig,
    "audio_siamese": AudioSiameseConfig,
    "fused": FusedConfig,
}
# which split set each model trains on, and whether it is a classifier
MODEL_SETS = {"lyrics_classifier": "lyrics", "lyrics_regressor": "lyrics",
              "audio_siamese": "multimodal", "fused": "multimodal"}
TASKS = {"lyrics_classifier": "classification", "lyrics_regressor": "regression",
         "audio_siamese": "regression", "fused": "regression"}
USES_LYRICS = {"lyrics_classifier": True, "lyrics_regressor": True, "audio_siamese": False, "fused": True}
USES_AUDIO = {"lyrics_classifier": False, "lyrics_regressor": False, "audio_siamese": True, "fused": True}

__all__ = [
    "MODEL_CONFIGS", "MODEL_SETS", "TASKS", "USES_AUDIO", "USES_LYRICS", "AudioEncoderConfig",
    "AudioSiameseConfig", "FusedConfig", "LyricsClassifierConfig", "LyricsEncoderConfig", "LyricsRegressorConfig",
]
