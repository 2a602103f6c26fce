"""Model config dataclasses (torch-free, so config loading stays light). Defaults are the published values.

Validation raises plain ``ValueError``: the models know nothing of the params layer, which turns these
errors into a ``ConfigError`` naming the key (``songsim.core.config.from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass

MERGES = ("concat", "diff", "prod", "mean", "cosine")


def _check_merge(where: str, merge: tuple[str, ...]) -> None:
    if not merge or any(m not in MERGES for m in merge) or len(set(merge)) != len(merge):
        raise ValueError(f"{where}.merge: a non-empty subset of {', '.join(MERGES)}, got {list(merge)}")


def _check_dropout(where: str, p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{where}.dropout must be in [0, 1), got {p}")


@dataclass(frozen=True)
class LyricsEncoderConfig:
    embedding_dim: int = 100  # word vector width (50 with the GloVe 6B 50d vectors)
    glove_init: bool = False  # initialise from raw.glove (embedding_dim must equal the GloVe dim)
    freeze_embeddings: bool = False  # keep the (GloVe) word vectors fixed during training
    lstm_units: tuple[int, ...] = (256, 128)  # one bidirectional LSTM per entry
    dropout: float = 0.3  # dropout inside the encoder
    packed: bool = True  # pack padded sequences so padding never feeds the LSTM
    kind: str = "bilstm"  # bilstm (DeepPlaylist) | bag: the words as a bag (learned word weights, mean, MLP)
    bag_dim: int = 128  # kind bag: width of the song vector
    input: str = "tokens"  # tokens: expand_lyrics' word sequence (max_len, truncated) | counts: every
    # distinct word of the song with its count (kind bag only), up to bag_words words, most frequent first
    bag_words: int = 512  # input counts: at most this many distinct words per song, most frequent first
    word_prior: str = "none"  # kind bag: none | idf: each word's weight also times its inverse document
    # frequency over the training songs, log((1 + S) / (1 + df)), fixed (a word in every song weighs ~0)
    stopwords: str = "none"  # kind bag: none | english: English function words (core.stopwords) weigh 0 |
    # style: they weigh 0 in the words' mean and are read apart, as the song's function-word style (own head)

    @property
    def words_read(self) -> int:
        """``bag_words`` when the encoder reads the bag with counts, 0 when it reads the token sequence."""
        return self.bag_words if self.input == "counts" else 0

    def validate(self) -> None:
        if not self.lstm_units or min(self.lstm_units) < 1 or self.embedding_dim < 1:
            raise ValueError("encoder: lstm_units must be non-empty and positive, embedding_dim >= 1")
        if self.kind not in ("bilstm", "bag") or self.bag_dim < 1:
            raise ValueError(f"encoder.kind: bilstm or bag (got {self.kind!r}); bag_dim >= 1")
        if self.input not in ("tokens", "counts") or (self.input == "counts" and self.kind != "bag"):
            raise ValueError(f"encoder.input: tokens, or counts with kind bag (got {self.input!r}, kind {self.kind!r})")
        if self.bag_words < 1:
            raise ValueError(f"encoder.bag_words must be >= 1, got {self.bag_words}")
        if self.word_prior not in ("none", "idf") or (self.word_prior != "none" and self.kind != "bag"):
            raise ValueError(f"encoder.word_prior: none, or idf with kind bag (got {self.word_prior!r}, "
                             f"kind {self.kind!r})")
        if self.stopwords not in ("none", "english", "style") or (self.stopwords != "none" and self.kind != "bag"):
            raise ValueError(f"encoder.stopwords: none, or english or style with kind bag (got {self.stopwords!r}, "
                             f"kind {self.kind!r})")
        _check_dropout("encoder", self.dropout)

    @property
    def fixed_word_weights(self) -> bool:
        """Whether the bag encoder also weighs each word by a fixed prior (``word_prior``, ``stopwords``)."""
        return self.word_prior != "none" or self.stopwords != "none"

    @property
    def out_dim(self) -> int:
        return self.bag_dim if self.kind == "bag" else 2 * self.lstm_units[-1]


@dataclass(frozen=True)
class AudioEncoderConfig:
    kind: str = "cnn"  # cnn (the published AudioEmbeddingCNN) | stats: summary statistics of the frames, MLP |
    # cnn_stats: the CNN's pooled features and the frames' statistics side by side into the dense head
    conv_channels: tuple[int, ...] = (32, 64, 128)  # kinds cnn and cnn_stats only (as is kernel_size)
    kernel_size: int = 5  # temporal kernel width of each conv block
    dense: tuple[int, ...] = (256,)  # hidden dense layers before the embedding layer
    embed_dim: int = 128  # width of the audio embedding (L2-normalised)
    dropout: float = 0.3  # dropout between the dense layers

    def validate(self) -> None:
        if not self.conv_channels or self.kernel_size < 1 or self.embed_dim < 1:
            raise ValueError("audio encoder: conv_channels non-empty, kernel_size and embed_dim >= 1")
        if self.kind not in ("cnn", "stats", "cnn_stats"):
            raise ValueError(f"audio encoder.kind: cnn, stats or cnn_stats, got {self.kind!r}")
        _check_dropout("audio encoder", self.dropout)


@dataclass(frozen=True)
class _PairHead:
    merge: tuple[str, ...]  # how two songs' vectors are merged: any of concat, diff, prod, mean, cosine
    dense: tuple[int, ...]  # decoder hidden layers; a final 1-unit layer + sigmoid follows
    dropout: float  # dropout between the decoder layers
    l2: float  # weight decay on the dense (decoder) layers

    def _check(self, where: str) -> None:
        _check_merge(where, self.merge)
        _check_dropout(where, self.dropout)
        if self.l2 < 0:
            raise ValueError(f"{where}.l2 must be >= 0")


@dataclass(frozen=True)
class LyricsClassifierConfig(_PairHead):
    """DeepPlaylist: shared (GloVe) embedding, BiLSTM, merge, two dense layers, sigmoid; BCE."""

    encoder: LyricsEncoderConfig = LyricsEncoderConfig(embedding_dim=50, glove_init=True, lstm_units=(128,))
    merge: tuple[str, ...] = ("concat", "diff", "prod")
    dense: tuple[int, ...] = (128, 64)
    dropout: float = 0.3
    l2: float = 0.0

    def validate(self) -> None:
        self._check("lyrics_classifier.model")


@dataclass(frozen=True)
class LyricsRegressorConfig(_PairHead):
    """BiLSTM 256 -> BiLSTM 128 regressor with a merge and dense 128 -> 64 -> 1; MSE."""

    encoder: LyricsEncoderConfig = LyricsEncoderConfig()
    merge: tuple[str, ...] = ("concat", "diff", "prod")
    dense: tuple[int, ...] = (128, 64)
    dropout: float = 0.3
    l2: float = 1e-4

    def validate(self) -> None:
        self._check("lyrics_regressor.model")


@dataclass(frozen=True)
class AudioSiameseConfig(_PairHead):
    """Siamese AudioEmbeddingCNN over timbre + chroma with a three-layer similarity decoder."""

    encoder: AudioEncoderConfig = AudioEncoderConfig()
    merge: tuple[str, ...] = ("concat", "diff", "prod")
    dense: tuple[int, ...] = (128, 64)
    dropout: float = 0.3
    l2: float = 1e-4
    artist_weight: float = 0.0  # weight of the artist loss: a training song finds another of its artist; 0 = off
    artist_temperature: float = 0.1  # temperature of the artist loss's softmax over the mates
    artist_songs: int = 256  # anchors drawn per step (each adds its mate to the step's songs)

    def validate(self) -> None:
        self._check("audio_siamese.model")
        if self.artist_weight < 0 or self.artist_temperature <= 0 or self.artist_songs < 2:
            raise ValueError(f"audio_siamese.model: artist_weight >= 0, artist_temperature > 0 and artist_songs >= 2, "
                             f"got {self.artist_weight}, {self.artist_temperature}, {self.artist_songs}")


MISSING = ("predicted", "zero", "decoder")  # FusedConfig.missing: where a missing modality gets a stand-in
AUDIO_INIT = ("none", "audio_siamese")  # FusedConfig.audio_init: where the audio tower's weights start


@dataclass(frozen=True)
class FusedConfig(_PairHead):
    """Lyrics encoder + audio encoder: four embeddings merged into one decoder; MSE. A song without one
    modality gets a stand-in for it, predicted from the one it has; ``modality_dropout`` trains the
    stand-ins on songs that have both."""

    lyrics: LyricsEncoderConfig = LyricsEncoderConfig()
    audio: AudioEncoderConfig = AudioEncoderConfig()
    merge: tuple[str, ...] = ("concat",)
    dense: tuple[int, ...] = (128, 64)
    dropout: float = 0.3
    l2: float = 1e-4
    modality_dropout: float = 0.2  # share of training songs with both whose lyrics or audio (half each) is hidden
    missing: str = "predicted"  # a missing modality's vector: predicted (from the other) | zero | decoder (zero
    # in the song vector and the ranking space, predicted from the other inside the pair decoder)
    stand_in: int = 128  # hidden width of the networks predicting a missing modality's vector from the other's
    audio_init: str = "none"  # none: random | audio_siamese: the trained audio model's encoder (member k from k)
    freeze_audio: bool = False  # keep the started audio tower fixed (weights, batch norm, no dropout)

    def validate(self) -> None:
        self._check("fused.model")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError(f"fused.model.modality_dropout: in [0, 1), got {self.modality_dropout}")
        if self.missing not in MISSING:
            raise ValueError(f"fused.model.missing: one of {', '.join(MISSING)}, got {self.missing!r}")
        if self.stand_in < 1:
            raise ValueError(f"fused.model.stand_in: at least 1, got {self.stand_in}")
        if self.audio_init not in AUDIO_INIT:
            raise ValueError(f"fused.model.audio_init: one of {', '.join(AUDIO_INIT)}, got {self.audio_init!r}")
        if self.freeze_audio and self.audio_init == "none":
            raise ValueError("fused.model.freeze_audio: true needs a trained tower to keep (audio_init: "
                             "audio_siamese); a frozen random tower would rank by noise")
