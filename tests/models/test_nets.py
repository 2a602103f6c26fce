"""Model shapes, merges, padding invariance (packing), batch dedup equivalence, parameter counts."""

import numpy as np
import pytest
import torch

from songsim.learn.batches import make_batch
from songsim.models.configs import (
    AudioEncoderConfig,
    AudioSiameseConfig,
    FusedConfig,
    LyricsClassifierConfig,
    LyricsEncoderConfig,
    LyricsRegressorConfig,
)
from songsim.models.nets import LyricsEncoder, StatsAudioEncoder, build_model, merge_features, merged_dim, param_counts
from tests.helpers import random_songs

ENC = LyricsEncoderConfig(embedding_dim=8, lstm_units=(6, 4), dropout=0.0)
AUD = AudioEncoderConfig(conv_channels=(4, 8, 8), dense=(16,), embed_dim=8, dropout=0.0)
AUD_STATS = AudioEncoderConfig(kind="stats", dense=(16,), embed_dim=8, dropout=0.0)


def _songs(n=10, length=12, frames=32, seed=0):
    return random_songs(n, length, frames, vocab=30, seed=seed)


@pytest.mark.parametrize("name,cfg", [
    ("lyrics_classifier", LyricsClassifierConfig(encoder=ENC, dense=(8, 4))),
    ("lyrics_regressor", LyricsRegressorConfig(encoder=ENC, dense=(8, 4))),
    ("audio_siamese", AudioSiameseConfig(encoder=AUD, dense=(8, 4))),
    ("audio_siamese", AudioSiameseConfig(encoder=AUD_STATS, dense=(8, 4))),
    ("fused", FusedConfig(lyrics=ENC, audio=AUD, dense=(8, 4))),
    ("fused", FusedConfig(lyrics=ENC, audio=AUD_STATS, dense=(8, 4))),
])
def test_forward_shapes_and_range(name, cfg):
    torch.manual_seed(0)
    m = build_model(name, cfg, vocab_size=30).eval()
    songs = _songs()
    src, tgt = torch.tensor([0, 1, 2, 0, 3]).numpy(), torch.tensor([1, 2, 3, 4, 0]).numpy()
    out = m(make_batch(songs, src, tgt, dedup=True))
    assert out.shape == (5,) and ((out >= 0) & (out <= 1)).all()
    counts = param_counts(m)
    assert counts["total"] == sum(v for k, v in counts.items() if k not in ("total", "trainable"))


def test_dedup_gives_same_predictions_as_encoding_every_slot():
    torch.manual_seed(0)
    m = build_model("fused", FusedConfig(lyrics=ENC, audio=AUD, dense=(8, 4)), 30).eval()
    songs = _songs()
    src, tgt = [0, 0, 1, 2, 2], [1, 3, 3, 0, 1]
    import numpy as np

    a = make_batch(songs, np.array(src), np.array(tgt), dedup=True)
    b = make_batch(songs, np.array(src), np.array(tgt), dedup=False)
    assert a["left"].max() < 4 and b["tokens"].shape[0] == 10  # 4 distinct songs vs 10 slots
    assert torch.allclose(m(a), m(b), atol=1e-6)


def test_packing_makes_padding_irrelevant():
    torch.manual_seed(0)
    enc = LyricsEncoder(ENC, 30).eval()
    tok = torch.tensor([[3, 4, 5, 0, 0, 0]])
    longer = torch.cat([tok, torch.zeros(1, 10, dtype=torch.long)], dim=1)
    lens = torch.tensor([3])
    assert torch.allclose(enc(tok, lens), enc(longer, lens), atol=1e-6)
    unpacked = LyricsEncoder(LyricsEncoderConfig(embedding_dim=8, lstm_units=(6, 4), dropout=0.0, packed=False), 30)
    unpacked.load_state_dict(enc.state_dict())
    assert not torch.allclose(unpacked.eval()(tok, lens), unpacked(longer, lens), atol=1e-6)


def test_own_length_lstm_equals_packing_states_outputs_and_gradients():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from songsim.models.nets import _own_length_lstm

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 7, batch_first=True, bidirectional=True)
    lengths = torch.tensor([9, 1, 4, 6, 9])
    x = torch.randn(5, 9, 5, requires_grad=True)
    out, h = _own_length_lstm(lstm, x, lengths)
    ref_out, (ref_h, _) = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    ref_out = pad_packed_sequence(ref_out, batch_first=True, total_length=9)[0]
    inside = (torch.arange(9)[None, :] < lengths[:, None])[:, :, None]  # (U, L, 1)
    assert torch.allclose(h, ref_h, atol=1e-6)
    assert torch.allclose(out * inside, ref_out, atol=1e-6)
    g = torch.autograd.grad((h ** 2).sum() + (out * inside).sum(), [x, lstm.weight_hh_l0_reverse])
    ref_g = torch.autograd.grad((ref_h ** 2).sum() + ref_out.sum(), [x, lstm.weight_hh_l0_reverse])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g, ref_g))


@pytest.mark.parametrize("ops", [("concat",), ("diff", "prod"), ("concat", "diff", "prod", "mean", "cosine")])
def test_merge_dims(ops):
    a, b = torch.randn(5, 7), torch.randn(5, 7)
    assert merge_features(a, b, ops).shape == (5, merged_dim(7, ops))


def test_frozen_embeddings():
    enc = LyricsEncoder(LyricsEncoderConfig(embedding_dim=8, lstm_units=(4,), freeze_embeddings=True), 30)
    assert not enc.embedding.weight.requires_grad


def test_audio_embedding_is_unit_norm():
    m = build_model("audio_siamese", AudioSiameseConfig(encoder=AUD, dense=(8,)), 0).eval()
    v = m.encode({"audio": torch.randn(3, 24, 32)})
    assert v.shape == (3, 8) and torch.allclose(v.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_stats_encoder_reads_only_real_frames():
    """Padding frames (all zero) change none of the statistics; the statistics are the plain numpy ones."""
    enc = StatsAudioEncoder(AUD_STATS).eval()
    rng = np.random.default_rng(0)
    real = rng.normal(size=(24, 20)).astype(np.float32)
    real[12:] = np.abs(real[12:]) + 0.1  # chroma: never all zero on a real frame
    padded = np.concatenate([real, np.zeros((24, 12), np.float32)], axis=1)
    stats = [enc.statistics(torch.from_numpy(a)[None])[0] for a in (real, padded)]
    assert torch.allclose(stats[0], stats[1], atol=1e-5)
    cov = np.cov(real[:12], bias=True)
    want = np.concatenate([real.mean(1), real.std(1), np.sqrt((np.diff(real, axis=1) ** 2).mean(1)),
                           cov[np.triu_indices(12, 1)]])
    np.testing.assert_allclose(stats[0].numpy(), want, rtol=1e-4, atol=1e-4)


def test_cnn_stats_encoder_feeds_the_statistics_beside_the_cnn():
    """Kind cnn_stats: the dense head reads the CNN's pooled features and the 138 frame statistics; the
    statistics it normalises are the stats encoder's own, and the embedding is unit norm."""
    from songsim.models.nets import AudioEncoder
    cfg = AudioEncoderConfig(kind="cnn_stats", conv_channels=(4, 6), dense=(16,), embed_dim=8, dropout=0.0)
    enc = AudioEncoder(cfg).eval()
    assert enc.head[0].in_features == 2 * 6 + 138
    audio = torch.randn(3, 24, 32)
    seen = {}
    enc.stats_norm.register_forward_hook(lambda mod, inp, out: seen.setdefault("stats", inp[0]))
    v = enc(audio)
    assert v.shape == (3, 8) and torch.allclose(v.norm(dim=-1), torch.ones(3), atol=1e-5)
    torch.testing.assert_close(seen["stats"], StatsAudioEncoder(AUD_STATS).eval().statistics(audio))
    assert not hasattr(AudioEncoder(AudioEncoderConfig(conv_channels=(4,), dense=(16,), embed_dim=8)), "stats_norm")


def test_audio_encoder_kind_is_checked():
    with pytest.raises(ValueError, match="cnn, stats or cnn_stats"):
        AudioEncoderConfig(kind="rnn").validate()


def test_bag_encoder_ignores_word_order_and_padding():
    from songsim.models.configs import LyricsEncoderConfig
    from songsim.models.nets import BagEncoder, lyrics_encoder

    cfg = LyricsEncoderConfig(embedding_dim=8, lstm_units=(4,), dropout=0.0, kind="bag", bag_dim=6)
    torch.manual_seed(0)
    enc = lyrics_encoder(cfg, 30).eval()
    assert isinstance(enc, BagEncoder) and enc.out_dim == 6
    tokens = torch.tensor([[3, 7, 7, 12, 0, 0], [5, 1, 2, 9, 4, 0]])
    lengths = torch.tensor([4, 5])
    out = enc(tokens, lengths)
    assert out.shape == (2, 6)
    shuffled = torch.tensor([[12, 7, 3, 7, 0, 0], [4, 9, 2, 1, 5, 0]])
    torch.testing.assert_close(enc(shuffled, lengths), out)
    padded = torch.cat([tokens, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(enc(padded, lengths), out)
    with pytest.raises(ValueError, match="encoder.kind"):
        LyricsEncoderConfig(kind="transformer").validate()


def test_bag_encoder_with_counts_is_the_bag_of_the_token_sequence_at_power_one():
    """input: counts reads each distinct word once with its count; at count power 1 that is the same song
    vector as the expanded token sequence, at power 0 the same as each word once (presence)."""
    from songsim.models.configs import LyricsEncoderConfig
    from songsim.models.nets import lyrics_encoder

    torch.manual_seed(0)
    seq = lyrics_encoder(LyricsEncoderConfig(embedding_dim=8, dropout=0.0, kind="bag", bag_dim=6), 30).eval()
    bag = lyrics_encoder(LyricsEncoderConfig(embedding_dim=8, dropout=0.0, kind="bag", bag_dim=6, input="counts"),
                         30).eval()
    state = seq.state_dict()
    bag.load_state_dict({**state, "count_logit": torch.tensor(50.0)})  # sigmoid -> 1: raw counts
    tokens = torch.tensor([[3, 7, 7, 12, 7, 0], [5, 1, 2, 9, 4, 4]])
    words = torch.tensor([[7, 3, 12, 0, 0], [4, 5, 1, 2, 9]])  # distinct words, most frequent first, padded
    counts = torch.tensor([[3.0, 1, 1, 0, 0], [2, 1, 1, 1, 1]])
    torch.testing.assert_close(bag(words, torch.tensor([3, 5]), counts), seq(tokens, torch.tensor([5, 6])))
    bag.count_logit.data.fill_(-50.0)  # power 0: each distinct word once
    once = torch.tensor([[3, 7, 12, 0, 0], [5, 1, 2, 9, 4]])
    torch.testing.assert_close(bag(words, torch.tensor([3, 5]), counts), seq(once, torch.tensor([3, 5])))
    with pytest.raises(ValueError, match="needs the batch's counts"):
        bag(words, torch.tensor([3, 5]))
    with pytest.raises(ValueError, match="encoder.input"):
        LyricsEncoderConfig(kind="bilstm", input="counts").validate()


def test_ensemble_scores_and_ranks_by_its_members_mean():
    """An ensemble's pair score is its members' mean score; its ranking space's inner product is the mean
    of their ranking scores, and the numpy twin the index is built with gives the same space."""
    from songsim.models.nets import Ensemble
    from songsim.serve.retrieval import ranking_space

    cfg = FusedConfig(lyrics=ENC, audio=AUD, dense=(8, 4))
    torch.manual_seed(0)
    members = [build_model("fused", cfg, vocab_size=30).eval() for _ in range(3)]
    with torch.no_grad():
        for k, m in enumerate(members):
            m.rank_mix.copy_(torch.tensor([0.3 * k, -0.2]))  # members weigh the modalities differently
    ens = Ensemble(members).eval()
    songs = _songs()
    src, tgt = torch.tensor([0, 1, 2, 0, 3]).numpy(), torch.tensor([1, 2, 3, 4, 0]).numpy()
    batch = make_batch(songs, src, tgt, dedup=True)
    with torch.no_grad():
        torch.testing.assert_close(ens(batch), torch.stack([m(batch) for m in members]).mean(0))
        v = ens.encode(batch)  # (U, 3 * D)
        r = ens.rank_space(v)
        each = [m.rank_space(m.encode(batch)) for m in members]
        torch.testing.assert_close(r @ r.T, torch.stack([e @ e.T for e in each]).mean(0), atol=1e-5, rtol=1e-5)
        twin = ranking_space(v.numpy(), ens.vector_blocks(), ens.rank_weights().tolist())
    torch.testing.assert_close(torch.from_numpy(twin), r, atol=1e-6, rtol=1e-5)
    assert len(ens.vector_blocks()) == 6 and ens.rank_weights().sum().item() == pytest.approx(1.0)
    one = param_counts(members[0])
    assert param_counts(ens) == {k: 3 * v for k, v in one.items()}  # per block, summed over members
    with pytest.raises(ValueError, match="at least 2 members"):
        Ensemble(members[:1])
    # a checkpoint of it rebuilds it: build_model(..., members=3) has the same state_dict keys
    assert build_model("fused", cfg, 30, members=3).state_dict().keys() == ens.state_dict().keys()


def test_decoder_dropout_never_hides_the_only_block_of_a_partial_song():
    """``missing: decoder`` hides one block of songs that have both, for the pair decoder; a song with one
    modality keeps it (hiding it would leave the decoder stand-ins predicted from nothing)."""
    import dataclasses

    cfg = dataclasses.replace(FusedConfig(lyrics=ENC, audio=AUD, dense=(8, 4)), missing="decoder",
                              modality_dropout=0.99)
    m = build_model("fused", cfg, vocab_size=30).train()
    d = m.lyrics.out_dim
    torch.manual_seed(0)
    v = torch.randn(3, sum(m.vector_blocks()))
    v[1, d:] = 0.0  # lyrics only
    v[2, :d] = 0.0  # audio only
    whole = m.eval().pair_features(v, torch.tensor([1, 2]), torch.tensor([1, 2]))  # nothing hidden
    m.train()
    hidden_both = 0
    for _ in range(50):
        feats = m.pair_features(v, torch.tensor([1, 2, 0]), torch.tensor([1, 2, 0]))
        assert torch.equal(feats[:2], whole)  # the partial songs' features: never touched by the dropout
        hidden_both += not torch.equal(feats[2], m.eval().pair_features(v, torch.tensor([0]), torch.tensor([0]))[0])
        m.train()
    assert hidden_both > 40  # the song with both is hidden nearly every time at this rate


def test_bag_encoder_embeds_only_real_tokens_yet_is_the_padded_weighted_mean():
    """The encoder embeds the N real tokens of a batch, not its (U, L) padded slots: the same song vectors
    and the same gradients as the weighted mean over the padded tensor, and a song without words (all
    padding) is the head of a zero mean."""
    import torch.nn.functional as F

    from songsim.models.nets import lyrics_encoder

    cfg = LyricsEncoderConfig(embedding_dim=8, dropout=0.0, kind="bag", bag_dim=6, input="counts")
    torch.manual_seed(0)
    enc = lyrics_encoder(cfg, 40).eval()
    with torch.no_grad():
        enc.word_weight.weight.normal_(0.5, 0.5)
        enc.count_logit.fill_(0.3)
    tokens = torch.randint(1, 41, (9, 12))
    lengths = torch.tensor([12, 0, 3, 7, 1, 12, 5, 0, 9])
    tokens[torch.arange(12)[None, :] >= lengths[:, None]] = 0
    counts = torch.randint(1, 6, (9, 12)).float() * (tokens > 0)

    def padded_mean(e):  # the (U, L, E) formulation
        w = F.softplus(e.word_weight(tokens).squeeze(-1)) * (tokens > 0)
        w = w * counts.clamp_min(1.0).pow(torch.sigmoid(e.count_logit))
        pooled = (w[..., None] * e.embedding(tokens)).sum(1) / w.sum(1, keepdim=True).clamp_min(1e-6)
        return e.head(pooled)

    out, ref = enc(tokens, lengths, counts), padded_mean(enc)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(out[1], enc.head(torch.zeros(8)))  # no words: the head of a zero mean
    grads = []
    for f in (lambda: enc(tokens, lengths, counts), lambda: padded_mean(enc)):
        enc.zero_grad()
        (f() ** 2).sum().backward()
        grads.append({n: p.grad.clone() for n, p in enc.named_parameters()})
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], msg=n)


def test_a_frozen_audio_tower_stays_fixed_and_in_eval_mode():
    """``freeze_audio``: no audio parameter trains, and the tower's batch norm and dropout stay in eval mode
    while the rest of the model trains, so a step sees the song vectors the trained model serves."""
    import dataclasses

    cfg = dataclasses.replace(FusedConfig(lyrics=ENC, audio=AUD, dense=(8, 4)), audio_init="audio_siamese",
                              freeze_audio=True)
    m = build_model("fused", cfg, vocab_size=30).train()
    assert not m.audio.training and m.lyrics.training and m.decoder.training
    assert not any(p.requires_grad for p in m.audio.parameters())
    assert all(p.requires_grad for p in m.lyrics.parameters())
    assert param_counts(m)["trainable"] == param_counts(m)["total"] - param_counts(m)["audio"]
    m.eval()
    assert not m.audio.training and not m.lyrics.training
    with pytest.raises(ValueError, match="freeze_audio"):
        dataclasses.replace(cfg, audio_init="none").validate()
    with pytest.raises(ValueError, match="audio_init"):
        dataclasses.replace(cfg, audio_init="lyrics").validate()
