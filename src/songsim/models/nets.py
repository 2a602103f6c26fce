"""The four pair models (over 250 lines: one base class, its ranking space and the encoders the four
share belong together). Shapes: U = distinct songs in a batch, P = pairs, L = tokens, T = audio frames.

Every model splits into ``encode(songs) -> (U, D)`` song vectors and ``score(vectors, left, right) ->
(P,)`` similarities in [0, 1], so a batch encodes each distinct song once and inference can cache
song vectors. ``forward`` returns predictions; losses live in the training loop.

Every model also has a ranking space (``rank_space``): each modality's part of the song vector, unit
normalised and weighted by a learned mixture, so that the inner product of two songs' ranking vectors is
the weighted mean of the per-modality cosines. That one function ranks the catalog everywhere: in the
evaluation, in the ANN index and in ``songsim similar``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from songsim.models import registry
from songsim.models.configs import (
    AudioEncoderConfig,
    AudioSiameseConfig,
    FusedConfig,
    LyricsClassifierConfig,
    LyricsEncoderConfig,
    LyricsRegressorConfig,
)

AUDIO_CHANNELS = 24  # 12 timbre + 12 chroma coefficients per frame
TIMBRE_CHANNELS = 12  # the first 12 of them


class LyricsEncoder(nn.Module):
    """Embedding -> stacked bidirectional LSTMs -> last hidden states of both directions."""

    def __init__(self, cfg: LyricsEncoderConfig, vocab_size: int):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(vocab_size + 1, cfg.embedding_dim, padding_idx=0)
        self.embedding.weight.requires_grad_(not cfg.freeze_embeddings)
        dims = [cfg.embedding_dim] + [2 * u for u in cfg.lstm_units[:-1]]
        self.lstms = nn.ModuleList(
            nn.LSTM(d, u, batch_first=True, bidirectional=True) for d, u in zip(dims, cfg.lstm_units)
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.out_dim = cfg.out_dim

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, counts: torch.Tensor | None = None) -> torch.Tensor:
        # tokens: (U, L) int64, 0 = padding; lengths: (U,) int64 >= 1; counts: unused (a sequence has none)
        x = self.dropout(self.embedding(tokens))  # (U, L, E)
        h = None
        if self.cfg.packed:
            lengths = lengths.to(x.device, non_blocking=True)
        for k, lstm in enumerate(self.lstms):
            if k:  # dropout between LSTM layers
                x = self.dropout(x)
            if self.cfg.packed:
                x, h = _own_length_lstm(lstm, x, lengths)
            else:
                x, (h, _) = lstm(x)
        return torch.cat([h[0], h[1]], dim=-1)  # (U, 2 * units[-1])


class BagEncoder(nn.Module):
    """The lyrics as a bag of words: embedding (GloVe-initialised like the BiLSTM's), a learned weight
    per word (how much it says about a song; softplus, starting at 1), the weighted mean over the song's
    tokens, then a two-layer MLP. Word order plays no part: the musiXmatch lyrics are bags of words.

    With ``input: counts`` the tokens are the song's distinct words and each is weighted also by its
    count to a learned power in [0, 1] (0: presence, 1: raw term frequency; starts at 0.5). With
    ``word_prior: idf`` or ``stopwords: english`` each weight is also multiplied by a fixed per-word prior
    (the ``word_prior`` buffer, saved with the weights, set by ``learn.setup.fit_word_prior``): the word's
    IDF over the training songs, so a word that every song uses adds almost nothing, as in TF-IDF; 0 for
    a function word, which then plays no part in the song's vector. With ``stopwords: style`` the function
    words are read apart instead: their own weighted mean (the same learned weights and count power) through
    a head of their own (``style_head``), added to the content words' vector, so they count as the song's
    style and an explanation can give their part as one (``serve.encoding.word_effects``)."""

    def __init__(self, cfg: LyricsEncoderConfig, vocab_size: int):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(vocab_size + 1, cfg.embedding_dim, padding_idx=0)
        self.embedding.weight.requires_grad_(not cfg.freeze_embeddings)
        self.word_weight = nn.Embedding(vocab_size + 1, 1)  # softplus(0.5413) = 1.0
        nn.init.constant_(self.word_weight.weight, 0.5413)
        if cfg.fixed_word_weights:
            self.register_buffer("word_prior", torch.ones(vocab_size + 1))  # (V + 1,)
        if cfg.input == "counts":
            self.count_logit = nn.Parameter(torch.zeros(()))  # sigmoid: the power of the counts
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = self._head(cfg)
        if cfg.stopwords == "style":  # the function words, read apart: their own weighted mean and head
            self.register_buffer("style_mask", torch.zeros(vocab_size + 1))  # (V + 1,): 1 for a function word
            self.style_head = self._head(cfg)
        self.out_dim = cfg.out_dim

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, counts: torch.Tensor | None = None) -> torch.Tensor:
        # tokens: (U, L) int64, 0 = padding; lengths unused (the padding mask says the same);
        # counts: (U, L) float, each token's count in the song (input: counts), else None.
        # Only the N real tokens are embedded (a song holds about 77 distinct words of bag_words 256 slots):
        # the same weighted mean as over the padded (U, L, E) tensor, at a third of the work.
        song, slot = (tokens > 0).nonzero(as_tuple=True)  # (N,), (N,)
        tok = tokens[song, slot]  # (N,)
        learned = F.softplus(self.word_weight(tok).squeeze(-1))  # (N,)
        w = learned * self.word_prior[tok] if self.cfg.fixed_word_weights else learned
        tf = None
        if self.cfg.input == "counts":
            if counts is None:
                raise ValueError("BagEncoder(input=counts) needs the batch's counts (load_songs(bag_words=...))")
            tf = counts[song, slot].float().clamp_min(1.0).pow(torch.sigmoid(self.count_logit))  # (N,)
            w = w * tf
        x = self.dropout(self.embedding(tok))  # (N, E)
        out = self.head(self._mean(x, w, song, len(tokens)))  # (U, bag_dim)
        if self.cfg.stopwords == "style":  # the same weights, over the function words alone (w is 0 there)
            style = learned * self.style_mask[tok]  # (N,)
            out = out + self.style_head(self._mean(x, style if tf is None else style * tf, song, len(tokens)))
        return out

    @staticmethod
    def _head(cfg: LyricsEncoderConfig) -> nn.Sequential:
        return nn.Sequential(nn.Linear(cfg.embedding_dim, cfg.bag_dim), nn.ReLU(), nn.Dropout(cfg.dropout),
                             nn.Linear(cfg.bag_dim, cfg.bag_dim))

    @staticmethod
    def _mean(x: torch.Tensor, w: torch.Tensor, song: torch.Tensor, songs: int) -> torch.Tensor:
        # x: (N, E) token vectors, w: (N,) weights, song: (N,) their song -> (U, E) each song's weighted mean
        total = x.new_zeros(songs, x.shape[1]).index_add_(0, song, w[:, None] * x)  # (U, E)
        mass = w.new_zeros(songs).index_add_(0, song, w)  # (U,): a song without words stays at 0
        return total / mass.clamp_min(1e-6)[:, None]


def lyrics_encoder(cfg: LyricsEncoderConfig, vocab_size: int) -> LyricsEncoder | BagEncoder:
    """The lyrics encoder ``cfg.kind`` names."""
    return BagEncoder(cfg, vocab_size) if cfg.kind == "bag" else LyricsEncoder(cfg, vocab_size)


def _own_length_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A bidirectional one-layer LSTM where every sequence stops at its own length, as over a packed
    sequence, but with the fused padded kernel: the backward direction runs forward over each sequence
    reversed within its length. Same weights, same results as packing (to float rounding), and on CPU a
    training step is 3-24x faster than the packed one (bench/bench_lstm.py; more on longer songs).
    x: (U, L, d); lengths: (U,) on x's device. Returns outputs (U, L, 2H) and final states (2, U, H)."""
    u, steps, _ = x.shape
    pos = torch.arange(steps, device=x.device)
    rev = lengths[:, None] - 1 - pos[None, :]  # (U, L): position t <-> length-1-t inside each sequence
    rev = torch.where(rev >= 0, rev, pos[None, :])  # padding stays where it is
    h0 = x.new_zeros(1, u, lstm.hidden_size)

    def run(inp: torch.Tensor, suffix: str) -> torch.Tensor:
        w = [getattr(lstm, f"{n}_l0{suffix}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        return torch.lstm(inp, (h0, h0), w, True, 1, 0.0, lstm.training, False, True)[0]  # (U, L, H)

    fwd = run(x, "")
    bwd_rev = run(torch.gather(x, 1, rev[:, :, None].expand(-1, -1, x.shape[2])), "_reverse")
    bwd = torch.gather(bwd_rev, 1, rev[:, :, None].expand(-1, -1, lstm.hidden_size))  # back in place
    last = (lengths - 1)[:, None, None].expand(-1, 1, lstm.hidden_size)
    h = torch.stack([fwd.gather(1, last)[:, 0], bwd_rev.gather(1, last)[:, 0]])  # (2, U, H)
    return torch.cat([fwd, bwd], dim=-1), h


def _embedding_head(d_in: int, cfg: AudioEncoderConfig) -> nn.Sequential:
    """The audio encoders' dense layers (``cfg.dense``, ReLU, dropout) then the ``embed_dim`` layer."""
    layers: list[nn.Module] = []
    for w in cfg.dense:
        layers += [nn.Linear(d_in, w), nn.ReLU(), nn.Dropout(cfg.dropout)]
        d_in = w
    layers.append(nn.Linear(d_in, cfg.embed_dim))
    return nn.Sequential(*layers)


class _StandardisedAudio(nn.Module):
    """What both audio encoders share: the per-channel standardisation of the frames, fitted on the
    training songs (``set_normalisation``) and stored with the weights."""

    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feat_mean", torch.zeros(AUDIO_CHANNELS))
        self.register_buffer("feat_std", torch.ones(AUDIO_CHANNELS))

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp_min(1e-3))

    def standardise(self, audio: torch.Tensor) -> torch.Tensor:
        # audio: (U, 24, T) float16/32 -> (U, 24, T) float32
        return (audio.float() - self.feat_mean[None, :, None]) / self.feat_std[None, :, None]


def frame_statistics(x: torch.Tensor, raw: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Song-level statistics of standardised frames ``x`` ``(U, 24, T)`` (``raw``: the same frames before the
    standardisation, whose all-zero frames are padding and are masked): each channel's mean, standard
    deviation and root-mean-square frame-to-frame change, and the timbre covariances at the flat indices
    ``upper`` (66 of the 12 x 12) -> ``(U, 138)``."""
    valid = (raw.abs().sum(1) > 0).float()[:, None, :]  # (U, 1, T): 0 on padding frames
    n = valid.sum(-1).clamp_min(1.0)  # (U, 1)
    mean = (x * valid).sum(-1) / n  # (U, 24)
    xc = (x - mean[..., None]) * valid  # (U, 24, T), 0 on padding
    std = ((xc ** 2).sum(-1) / n + 1e-6).sqrt()  # (U, 24)
    both = valid[..., 1:] * valid[..., :-1]  # (U, 1, T - 1): consecutive real frames
    step = ((((x[..., 1:] - x[..., :-1]) * both) ** 2).sum(-1) / both.sum(-1).clamp_min(1.0) + 1e-6).sqrt()
    t = xc[:, :TIMBRE_CHANNELS]  # (U, 12, T)
    cov = (t @ t.transpose(1, 2)).flatten(1) / n  # (U, 144)
    return torch.cat([mean, std, step, cov[:, upper]], dim=-1)  # (U, 138)


def _timbre_upper() -> tuple[torch.Tensor, int]:
    """The flat indices of the 66 timbre covariances above the diagonal, and the statistics' width (138)."""
    upper = torch.triu_indices(TIMBRE_CHANNELS, TIMBRE_CHANNELS, offset=1)  # (2, 66)
    return upper[0] * TIMBRE_CHANNELS + upper[1], 3 * AUDIO_CHANNELS + upper.shape[1]


class AudioEncoder(_StandardisedAudio):
    """AudioEmbeddingCNN: conv blocks over (timbre, chroma) frames -> L2-normalised embedding. Kind
    ``cnn_stats`` also feeds the dense head the frames' batch-normalised song-level statistics
    (:func:`frame_statistics`) beside the CNN's pooled features: a direct path for what the frames' plain
    statistics hold, which a CNN taught by a few pairs a song can fail to keep."""

    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__(cfg)
        blocks: list[nn.Module] = []
        c_in = AUDIO_CHANNELS
        for c in cfg.conv_channels:
            blocks += [nn.Conv1d(c_in, c, cfg.kernel_size, padding=cfg.kernel_size // 2),
                       nn.BatchNorm1d(c), nn.ReLU(), nn.MaxPool1d(2)]
            c_in = c
        self.conv = nn.Sequential(*blocks)
        d = 2 * c_in  # global mean + max pooling
        self.with_stats = cfg.kind == "cnn_stats"
        if self.with_stats:
            upper, d_stats = _timbre_upper()
            self.register_buffer("upper", upper, persistent=False)
            self.stats_norm = nn.BatchNorm1d(d_stats)
            d += d_stats
        self.head = _embedding_head(d, cfg)
        self.out_dim = cfg.embed_dim

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        # audio: (U, 24, T) float16/32
        x = self.standardise(audio)  # (U, 24, T)
        h = self.conv(x)  # (U, C, T / 2^blocks)
        h = torch.cat([h.mean(-1), h.amax(-1)], dim=-1)  # (U, 2C)
        if self.with_stats:
            h = torch.cat([h, self.stats_norm(frame_statistics(x, audio, self.upper))], dim=-1)  # (U, 2C + 138)
        return F.normalize(self.head(h), dim=-1)  # (U, embed_dim), unit norm


class StatsAudioEncoder(_StandardisedAudio):
    """The frames as song-level summary statistics, the usual MSD audio features (the year-prediction
    benchmark's are the timbre means and covariances): over a song's real frames (all-zero frames are
    padding, masked), after the per-channel standardisation, each channel's mean, standard deviation and
    root-mean-square frame-to-frame change, and the 66 covariances between timbre channels; batch
    normalised, then the same dense head as the CNN. A few hundred weights per input instead of a CNN's
    tens of thousands: less to learn from a few thousand songs."""

    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__(cfg)
        upper, d = _timbre_upper()
        self.register_buffer("upper", upper, persistent=False)
        self.norm = nn.BatchNorm1d(d)
        self.head = _embedding_head(d, cfg)
        self.out_dim = cfg.embed_dim

    def statistics(self, audio: torch.Tensor) -> torch.Tensor:
        """``(U, 24, T)`` frames -> ``(U, 138)`` statistics (before the batch norm)."""
        return frame_statistics(self.standardise(audio), audio, self.upper)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        # audio: (U, 24, T) float16/32
        return F.normalize(self.head(self.norm(self.statistics(audio))), dim=-1)  # (U, embed_dim), unit norm


def audio_encoder(cfg: AudioEncoderConfig) -> AudioEncoder | StatsAudioEncoder:
    """The audio encoder ``cfg.kind`` names."""
    return StatsAudioEncoder(cfg) if cfg.kind == "stats" else AudioEncoder(cfg)


def merge_features(a: torch.Tensor, b: torch.Tensor, ops: tuple[str, ...]) -> torch.Tensor:
    """Combine two song vectors (P, D) into pair features (P, merged_dim(D, ops))."""
    parts = []
    for op in ops:
        if op == "concat":
            parts += [a, b]
        elif op == "diff":
            parts.append((a - b).abs())
        elif op == "prod":
            parts.append(a * b)
        elif op == "mean":
            parts.append((a + b) / 2)
        elif op == "cosine":
            parts.append(F.cosine_similarity(a, b, dim=-1, eps=1e-6)[:, None])
    return torch.cat(parts, dim=-1)


def merged_dim(d: int, ops: tuple[str, ...]) -> int:
    return sum({"concat": 2 * d, "diff": d, "prod": d, "mean": d, "cosine": 1}[op] for op in ops)


class Decoder(nn.Module):
    """Dense layers with batch norm, ReLU and dropout, then one unit and a sigmoid."""

    def __init__(self, d_in: int, widths: tuple[int, ...], dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        for w in widths:
            layers += [nn.Linear(d_in, w), nn.BatchNorm1d(w), nn.ReLU(), nn.Dropout(dropout)]
            d_in = w
        layers.append(nn.Linear(d_in, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (P, d_in) -> (P,) in [0, 1]
        return torch.sigmoid(self.net(x).squeeze(-1).float())


class PairModel(nn.Module):
    """Base: ``forward(batch)`` = ``score(encode(batch), batch['left'], batch['right'])``."""

    cfg: LyricsClassifierConfig | LyricsRegressorConfig | AudioSiameseConfig | FusedConfig
    decoder: Decoder

    def _init_ranking(self) -> None:
        """The ranking space's parameters (subclasses call this once their encoders exist)."""
        self.rank_mix = nn.Parameter(torch.zeros(len(self.vector_blocks())))  # (blocks,): softmax = weights
        self.rank_log_scale = nn.Parameter(torch.tensor(math.log(10.0)))  # 1 / temperature of the listwise loss

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:  # (U, D)
        raise NotImplementedError

    def rank_weights(self) -> torch.Tensor:
        """``(blocks,)`` weight of each modality's cosine in the ranking score (sum 1)."""
        return torch.softmax(self.rank_mix.float(), dim=0)

    def rank_space(self, v: torch.Tensor) -> torch.Tensor:
        """Song vectors ``(U, D)`` -> ranking vectors ``(U, D)`` float32: each block unit-normalised and
        scaled by the square root of its weight, so ``rank_space(a) @ rank_space(b).T`` is
        ``sum_m w_m cos(a_m, b_m)``, in [-1, 1]."""
        parts, start = [], 0
        for w, width in zip(self.rank_weights().sqrt(), self.vector_blocks()):
            parts.append(F.normalize(v[:, start:start + width].float(), dim=-1, eps=1e-6) * w)
            start += width
        return torch.cat(parts, dim=-1)

    def rank_scale(self) -> torch.Tensor:
        """The listwise softmax's inverse temperature (learned, kept in [1, 100])."""
        return self.rank_log_scale.float().exp().clamp(1.0, 100.0)

    def pair_features(self, v: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return merge_features(v[left], v[right], self.cfg.merge)

    def score(self, v: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        # v: (U, D) song vectors; left/right: (P,) indices into v -> (P,)
        return self.decoder(self.pair_features(v, left, right))

    def forward(self, batch: dict[str, torch.Tensor], with_rank: bool = False):
        """Pair predictions ``(P,)``; with ``with_rank``, also the batch songs' ranking vectors ``(U, D)``
        (the listwise loss reads them: one forward, so DDP sees every parameter it trains)."""
        v = self.encode(batch)  # (U, D)
        pred = self.score(v, batch["left"], batch["right"])
        return (pred, self.rank_space(v)) if with_rank else pred

    def decoder_parameters(self) -> list[nn.Parameter]:
        return list(self.decoder.parameters())

    def vector_blocks(self) -> list[int]:
        """Widths of the parts of a song vector (one per modality encoder), in order."""
        return [self.encoder.out_dim]


class LyricsPairModel(PairModel):
    """DeepPlaylist classifier and the BiLSTM regressor: same structure, different configs and losses."""

    def __init__(self, cfg: LyricsClassifierConfig | LyricsRegressorConfig, vocab_size: int):
        super().__init__()
        self.cfg = cfg
        self.encoder = lyrics_encoder(cfg.encoder, vocab_size)
        self.decoder = Decoder(merged_dim(self.encoder.out_dim, cfg.merge), cfg.dense, cfg.dropout)
        self._init_ranking()

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(batch["tokens"], batch["lengths"], batch.get("counts"))


class AudioSiamese(PairModel):
    def __init__(self, cfg: AudioSiameseConfig, vocab_size: int = 0):
        super().__init__()
        self.cfg = cfg
        self.encoder = audio_encoder(cfg.encoder)
        self.decoder = Decoder(merged_dim(self.encoder.out_dim, cfg.merge), cfg.dense, cfg.dropout)
        self._init_ranking()

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(batch["audio"])


class FusedModel(PairModel):
    """Four embeddings (lyrics and audio of both songs), merged per modality, one decoder.

    Every song with lyrics or audio is embedded, in the one space and under the one ranking function of
    the songs that have both: a missing modality's vector is a stand-in, ``missing: predicted`` from the
    other's (a small MLP each way) or ``zero`` (its block then adds nothing to a ranking score, and the
    decoder reads zeros), or ``decoder``: zero in the song vector and so in the ranking space, predicted
    inside the pair decoder (:meth:`with_stand_ins`; its modality dropout happens there too, so the
    listwise ranking loss sees the songs that have both whole). In training, ``modality_dropout`` of the
    songs that have both see one modality replaced by its stand-in (lyrics or audio, half each)."""

    def __init__(self, cfg: FusedConfig, vocab_size: int):
        super().__init__()
        self.cfg = cfg
        self.lyrics = lyrics_encoder(cfg.lyrics, vocab_size)
        self.audio = audio_encoder(cfg.audio)
        dl, da = self.lyrics.out_dim, self.audio.out_dim
        if cfg.missing != "zero":
            self.lyrics_from_audio = nn.Sequential(nn.Linear(da, cfg.stand_in), nn.ReLU(),
                                                   nn.Linear(cfg.stand_in, dl))
            self.audio_from_lyrics = nn.Sequential(nn.Linear(dl, cfg.stand_in), nn.ReLU(),
                                                   nn.Linear(cfg.stand_in, da))
        d = merged_dim(dl, cfg.merge) + merged_dim(da, cfg.merge)
        self.decoder = Decoder(d, cfg.dense, cfg.dropout)
        self._init_ranking()
        if cfg.freeze_audio:
            self.audio.requires_grad_(False)

    def train(self, mode: bool = True) -> FusedModel:
        """``freeze_audio``: the audio tower stays in eval mode (running batch-norm statistics, no dropout),
        so a training step sees the very song vectors the trained model serves."""
        super().train(mode)
        if self.cfg.freeze_audio:
            self.audio.eval()
        return self

    def _audio(self, audio: torch.Tensor, has: torch.Tensor | None) -> torch.Tensor:
        # audio: (U, 24, T); has: (U,) bool or None -> (U, D_audio), zeros where a song has no audio (the
        # encoder, batch norm included, sees only real frames)
        if has is None or bool(has.all()):
            return self.audio(audio)
        idx = has.nonzero().squeeze(1)
        if len(idx) == 1 and self.training:  # batch norm needs two songs: encode the padding too (rare)
            return self.audio(audio)
        enc = self.audio(audio[idx]) if len(idx) else None
        out = audio.new_zeros((len(audio), self.audio.out_dim), dtype=torch.float32 if enc is None else enc.dtype)
        if enc is not None:
            out = out.index_put((idx,), enc)
        return out

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        # (U, D_lyrics + D_audio)
        has_l, has_a = batch.get("has_lyrics"), batch.get("has_audio")  # (U,) bool, or None: all have it
        lyr = self.lyrics(batch["tokens"], batch["lengths"], batch.get("counts"))  # (U, D_lyrics)
        aud = self._audio(batch["audio"], has_a)  # (U, D_audio)
        # decoder: the modality dropout happens in the pair decoder (pair_features), the ranking sees every song whole
        p = self.cfg.modality_dropout if self.training and self.cfg.missing != "decoder" else 0.0
        # the stand-ins always run (cheap), so every parameter takes part in each step (DDP requires it)
        u = lyr.shape[0]
        ones = torch.ones(u, dtype=torch.bool, device=lyr.device)
        has_l = ones if has_l is None else has_l.to(lyr.device)
        has_a = ones if has_a is None else has_a.to(lyr.device)
        if p > 0.0:  # hide one modality of some songs that have both
            hide_l, hide_a = self._hidden(u, p, lyr.device)
            both = has_l & has_a
            has_l, has_a = has_l & ~(both & hide_l), has_a & ~(both & hide_a)
        if self.cfg.missing != "predicted":  # a zero block: no term in the ranking score
            lyr_hat, aud_hat = torch.zeros_like(lyr), torch.zeros_like(aud)
        else:
            lyr_hat, aud_hat = self._stand_ins(lyr, aud)
        return torch.cat([torch.where(has_l[:, None], lyr, lyr_hat), torch.where(has_a[:, None], aud, aud_hat)],
                         dim=-1)

    def vector_blocks(self) -> list[int]:
        return [self.lyrics.out_dim, self.audio.out_dim]

    @staticmethod
    def _hidden(u: int, p: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Modality dropout's draw: ``(U,)`` bool masks of the songs whose lyrics (share ``p / 2``) or
        audio (another ``p / 2``) are hidden this step."""
        r = torch.rand(u, device=device)
        return r < p / 2, (r >= p / 2) & (r < p)

    def _stand_ins(self, lyr: torch.Tensor, aud: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each block predicted from the other: ``(U, D_lyrics)`` from the audio, ``(U, D_audio)`` unit
        vectors from the lyrics, in the blocks' dtypes."""
        lyr_hat = self.lyrics_from_audio(aud.float()).to(lyr.dtype)
        aud_hat = F.normalize(self.audio_from_lyrics(lyr.float()), dim=-1).to(aud.dtype)
        return lyr_hat, aud_hat

    def with_stand_ins(self, v: torch.Tensor) -> torch.Tensor:
        """``missing: decoder``: song vectors ``(U, D)`` whose zero blocks (a missing modality) are replaced
        by the stand-in predicted from the other block, for the pair decoder only."""
        d = self.lyrics.out_dim
        lyr, aud = v[:, :d], v[:, d:]
        no_l, no_a = (lyr.abs().sum(-1) == 0)[:, None], (aud.abs().sum(-1) == 0)[:, None]  # (U, 1)
        lyr_hat, aud_hat = self._stand_ins(lyr, aud)
        return torch.cat([torch.where(no_l, lyr_hat, lyr), torch.where(no_a, aud_hat, aud)], dim=-1)

    def pair_features(self, v: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        d = self.lyrics.out_dim
        if self.cfg.missing == "decoder":
            p = self.cfg.modality_dropout if self.training else 0.0
            if p > 0.0:  # hide one block of some songs that have both, for the decoder only
                hide_l, hide_a = self._hidden(v.shape[0], p, v.device)
                both = (v[:, :d].abs().sum(-1) > 0) & (v[:, d:].abs().sum(-1) > 0)  # (U,) a partial song keeps its one
                v = torch.cat([v[:, :d] * ~(hide_l & both)[:, None], v[:, d:] * ~(hide_a & both)[:, None]], dim=-1)
            v = self.with_stand_ins(v)
        a, b = v[left], v[right]
        return torch.cat([merge_features(a[:, :d], b[:, :d], self.cfg.merge),
                          merge_features(a[:, d:], b[:, d:], self.cfg.merge)], dim=-1)


class Ensemble(PairModel):
    """K pair models of one config, trained from K seeds (``optim.members``), as one model.

    The song vector is the members' vectors side by side ``(U, K * D)``; the pair score is the mean of
    the members' scores; the ranking space is the members' ranking spaces side by side, each block's
    weight divided by K, so its inner product is the mean of the members' ranking scores and the same
    ``ranking_space(vectors, vector_blocks(), rank_weights())`` serves it. Members are trained apart
    (``learn.train``); an ensemble is only ever assembled from trained members."""

    def __init__(self, members: list[PairModel]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        self.members = nn.ModuleList(members)
        self.cfg = members[0].cfg
        self.member_width = sum(members[0].vector_blocks())  # D: one member's song vector

    def _parts(self, v: torch.Tensor) -> list[torch.Tensor]:
        # v: (U, K * D) -> K tensors (U, D), one per member
        return list(torch.split(v, self.member_width, dim=-1))

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:  # (U, K * D)
        return torch.cat([m.encode(batch) for m in self.members], dim=-1)

    def score(self, v: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        # v: (U, K * D); left/right: (P,) -> (P,) the members' mean score
        return torch.stack([m.score(p, left, right) for m, p in zip(self.members, self._parts(v))]).mean(0)

    def rank_weights(self) -> torch.Tensor:
        """``(K * blocks,)``: each member's block weights divided by K (sum 1)."""
        return torch.cat([m.rank_weights() for m in self.members]) / len(self.members)

    def vector_blocks(self) -> list[int]:
        return [w for m in self.members for w in m.vector_blocks()]

    def decoder_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.members for p in m.decoder_parameters()]


_CLASSES: dict[str, type[PairModel]] = {c.__name__: c for c in (LyricsPairModel, AudioSiamese, FusedModel)}


def build_model(name: str, cfg, vocab_size: int, members: int = 1) -> PairModel:
    """The ``nn.Module`` of registered model ``name`` (its class is named by ``ModelSpec.builder``);
    ``members`` > 1: an :class:`Ensemble` of that many (untrained) models, to load a checkpoint into."""
    cls = _CLASSES[registry.get(name).builder]
    if members > 1:
        return Ensemble([cls(cfg, vocab_size) for _ in range(members)])
    return cls(cfg, vocab_size)


def members_of(model: PairModel) -> list[PairModel]:
    """The single models an :class:`Ensemble` averages, or the model itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


def param_counts(model: nn.Module) -> dict[str, int]:
    """Trainable + frozen parameter counts per top-level block (an :class:`Ensemble`'s: its members' blocks
    summed), and the total."""
    counts: dict[str, int] = {}
    for m in members_of(model):
        for name, child in m.named_children():
            counts[name] = counts.get(name, 0) + sum(p.numel() for p in child.parameters())
        own = sum(p.numel() for p in m.parameters(recurse=False))  # a PairModel's: the ranking mixture and scale
        if own:
            counts["ranking"] = counts.get("ranking", 0) + own
    counts["total"] = sum(p.numel() for p in model.parameters())
    counts["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts
