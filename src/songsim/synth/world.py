"""A small synthetic world written in the exact real file formats (the project's embedded default).

Every track carries latent factors: a *shared* part seen by both lyrics and audio, a *lyrics-private*
part and an *audio-private* part, each drawn around one of a few cluster centres. Lyrics word counts
come from a topic model over the shared + lyrics factors; timbre/chroma sequences from the shared +
audio factors (part of it only in the temporal modulation). The noise-free similarity of two tracks is

    oracle(i, j) = E[clip(sigmoid(beta * (w_s cos_s + w_l cos_l + w_a cos_a) + bias) + eps, 0.001, 1)]

with ``eps ~ N(0, noise)``; the Last.fm score is one draw of that. A lyrics-only model can recover
``cos_s`` and ``cos_l`` but not ``cos_a`` (and vice versa), so fusing both modalities can do better.
This module is the latent model only; ``synth.write`` turns a world into raw files through one writer
module per format (``synth.lastfm``, ``synth.mxm``, ``synth.msd``, ``synth.glove``), mirroring ``io/``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from scipy.stats import norm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorldSize:
    n_tracks: int  # track ids in the world
    lastfm_frac: float  # tracks with a Last.fm JSON file
    lyrics_frac: float  # tracks with musiXmatch lyrics
    audio_frac: float  # tracks with an MSD .h5 file
    vocab: int
    tokens: tuple[int, int]  # total words per song (min, max)
    segments: tuple[int, int]  # segments per song (min, max)
    list_len: tuple[int, int]  # similars per Last.fm track (min, max)
    pool: int  # candidate targets scored per source track
    clusters: tuple[int, int, int] = (8, 6, 6)  # shared, lyrics, audio
    songs_per_artist: int = 10  # mean tracks per artist (artists are drawn from their own random stream)


SIZES = {
    "tiny": WorldSize(240, 0.9, 0.85, 0.85, 300, (20, 60), (40, 90), (6, 24), 120),
    "default": WorldSize(1500, 0.9, 0.85, 0.85, 1200, (12, 40), (60, 160), (8, 30), 300),
    "large": WorldSize(125_000, 0.85, 0.85, 0.17, 5000, (40, 200), (120, 400), (20, 100), 400),
}

D = 6  # dimensions of each latent part
W_SHARED, W_LYR, W_AUD = 0.5, 0.25, 0.25
BETA, BIAS, NOISE = 7.0, -2.6, 0.06
LO, HI = 0.001, 1.0
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
HEX = np.array(list("0123456789ABCDEF"))
_SYLL = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "bu", "da", "fe", "go", "hi", "ja", "ko",
         "li", "ma", "no", "pe", "ri", "so", "tu", "va", "ye", "zo", "an", "el", "in", "or", "un", "ay"]
GENRES = ["rock", "pop", "jazz", "hip hop", "electronic", "folk", "metal", "soul", "blues", "indie",
           "country", "reggae"]


def expected_clipped(mu: np.ndarray, sigma: float, lo: float = LO, hi: float = HI) -> np.ndarray:
    """E[clip(mu + N(0, sigma^2), lo, hi)], elementwise."""
    a, b = (lo - mu) / sigma, (hi - mu) / sigma
    return (lo * norm.cdf(a) + hi * norm.sf(b) + mu * (norm.cdf(b) - norm.cdf(a))
            + sigma * (norm.pdf(a) - norm.pdf(b)))


class World:
    """Latent state of a synthetic world; writers below turn it into raw files."""

    def __init__(self, size: str | WorldSize, seed: int):
        if isinstance(size, str):
            if size not in SIZES:
                raise ValueError(f"unknown world size {size!r} ({', '.join(SIZES)})")
            size = SIZES[size]
        self.size, self.seed = size, seed
        s = self.size
        rng = np.random.default_rng([seed, 0])
        n = s.n_tracks
        ids = set()
        while len(ids) < n:
            k = n - len(ids)
            a = rng.choice(_LETTERS, size=(k, 5))
            h = rng.choice(HEX, size=(k, 7))
            ids.update("TR" + "".join(x) + "128F" + "".join(y) for x, y in zip(a, h))
        self.track_ids = np.array(sorted(ids))
        self.latent = []  # shared, lyrics, audio parts, each (n, D), unit rows
        for part, k in enumerate(s.clusters):
            centres = rng.normal(size=(k, D))
            centres /= np.linalg.norm(centres, axis=1, keepdims=True)
            c = rng.integers(0, k, size=n)
            z = centres[c] + 0.55 * rng.normal(size=(n, D)) / np.sqrt(D)
            z /= np.linalg.norm(z, axis=1, keepdims=True)
            self.latent.append(z.astype(np.float32))
            if part == 0:
                self.genre = c
        self.has_lastfm = rng.random(n) < s.lastfm_frac
        self.has_lyrics = rng.random(n) < s.lyrics_frac
        self.has_audio = rng.random(n) < s.audio_frac
        # lyrics topic model: a word embedding over (shared, lyrics) factors and a Zipf prior
        self.word_emb = rng.normal(size=(s.vocab, 2 * D)).astype(np.float32)
        self.word_prior = -1.0 * np.log(np.arange(1, s.vocab + 1))
        self.words = self._make_words(rng, s.vocab)
        # audio: timbre mean, modulation amplitude and key projections over (shared, audio) factors
        self.timbre_mean = rng.normal(size=(2 * D, 12)) * np.array([4.0] + [30.0] * 11)
        self.timbre_base = np.array([42.0] + list(rng.normal(0, 20, 11)))
        self.timbre_mod = rng.normal(size=(D, 12)) * 25.0  # audio-private part drives the modulation
        self.key_proj = rng.normal(size=(2 * D, 12))
        self.glove_proj = rng.normal(size=(2 * D, 50)).astype(np.float32) / np.sqrt(2 * D)
        self.artist = self._assign_artists(np.random.default_rng([seed, 8]))

    def _assign_artists(self, rng: np.random.Generator) -> np.ndarray:
        """Artist index per track: the nearest of ``n / songs_per_artist`` centres (random tracks) in the
        similarity-weighted latent space, so one artist's songs are alike on Last.fm. The artists come
        from their own stream, so adding them changed no other draw of the world."""
        n = self.size.n_tracks
        z = np.concatenate([np.sqrt(w) * p for w, p in zip((W_SHARED, W_LYR, W_AUD), self.latent)], axis=1)
        centres = z[rng.choice(n, size=max(2, n // self.size.songs_per_artist), replace=False)]
        out = np.empty(n, dtype=np.int64)
        for k in range(0, n, 4096):  # (block, artists) similarities, bounded memory at any size
            out[k:k + 4096] = np.argmax(z[k:k + 4096] @ centres.T, axis=1)
        return out

    @staticmethod
    def _make_words(rng: np.random.Generator, n: int) -> list[str]:
        words: list[str] = []
        seen = set()
        extra = ["corazón", "não", "niño", "café", "über", "garçon"]
        while len(words) < n:
            if extra and len(words) % 97 == 50:
                w = extra.pop()
            else:
                w = "".join(rng.choice(_SYLL, size=int(rng.integers(1, 4))))
            if w not in seen:
                seen.add(w)
                words.append(w)
        return words

    # ---- similarity ------------------------------------------------------------------------------
    def logits(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        s, l, a = self.latent
        cos = W_SHARED * (s[i] * s[j]).sum(-1) + W_LYR * (l[i] * l[j]).sum(-1) + W_AUD * (a[i] * a[j]).sum(-1)
        return BETA * cos + BIAS

    def oracle(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return expected_clipped(expit(self.logits(i, j)), NOISE)

    # ---- per-track content -----------------------------------------------------------------------
    def lyrics_counts(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        z = np.concatenate([self.latent[0][i], self.latent[1][i]])
        logit = self.word_prior + 1.6 * (self.word_emb @ z)
        p = np.exp(logit - logit.max())
        p /= p.sum()
        total = int(rng.integers(*self.size.tokens))
        counts = rng.multinomial(total, p)
        idx = np.nonzero(counts)[0]
        return idx + 1, counts[idx]  # 1-based word indices

    def audio(self, i: int, rng: np.random.Generator) -> dict:
        s, a = self.latent[0][i], self.latent[2][i]
        z = np.concatenate([s, a])
        n = int(rng.integers(*self.size.segments))
        dur = 0.12 + rng.gamma(2.0, 0.08, size=n)
        start = rng.uniform(0.0, 0.5) + np.concatenate([[0.0], np.cumsum(dur)[:-1]])
        t = np.arange(n)
        freq = 0.02 + 0.08 * expit(3 * a[:3].sum())  # cycles per segment
        phase = rng.uniform(0, 2 * np.pi)
        mod = np.sin(2 * np.pi * freq * t + phase)[:, None] * (a @ self.timbre_mod)[None, :]
        timbre = self.timbre_base + z @ self.timbre_mean + mod + rng.normal(0, 12.0, size=(n, 12))
        timbre[:, 0] = np.clip(timbre[:, 0], 0.0, 60.0)
        key_scores = z @ self.key_proj
        key = int(np.argmax(key_scores))
        mode = int(a[0] + s[0] > 0)
        profile = np.array([6.4, 2.2, 3.5, 2.3, 4.4, 4.1, 2.5, 5.2, 2.4, 3.7, 2.3, 2.9]) if mode else \
            np.array([6.3, 2.7, 3.5, 5.4, 2.6, 3.5, 2.5, 4.8, 4.0, 2.7, 3.3, 3.2])
        chroma = np.roll(profile, key)[None, :] * rng.uniform(0.3, 1.0, size=(n, 12)) + rng.uniform(0, 2, (n, 12))
        chroma /= chroma.max(axis=1, keepdims=True)  # MSD: each segment's max pitch class is exactly 1
        tempo = float(70 + 100 * expit(2 * (s[1] + a[1])) + rng.normal(0, 3))
        loud = float(-14 + 5 * np.tanh(s[2] + a[2]) + rng.normal(0, 1))
        return {
            "timbre": timbre, "chroma": chroma, "segments_start": start,
            "duration": float(start[-1] + dur[-1] + 0.5), "tempo": tempo, "key": key,
            "key_confidence": float(rng.uniform(0.2, 1.0)), "mode": mode, "loudness": loud,
            "seg_loudness": loud + rng.normal(0, 4, n) - 5,
        }

    def similars(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Targets and observed scores for source ``i``, sorted by non-increasing score."""
        n = self.size.n_tracks
        # sample with replacement and drop repeats: O(pool), where choice(replace=False) is O(n)
        pool = np.unique(rng.integers(0, n - 1, size=min(self.size.pool, n - 1)))
        pool = pool + (pool >= i)
        obs = np.clip(expit(self.logits(np.full(len(pool), i), pool)) + rng.normal(0, NOISE, len(pool)), LO, HI)
        k = int(rng.integers(*self.size.list_len))
        order = np.argsort(-obs)
        top = order[:k]
        tail = rng.choice(order[k:], size=min(len(order) - k, max(1, k // 4)), replace=False)
        pick = np.concatenate([top, tail])
        pick = pick[np.argsort(-obs[pick], kind="stable")]
        return pool[pick], np.round(obs[pick], 5)

    # ---- names -------------------------------------------------------------------------------------
    def name(self, i: int, kind: str) -> str:
        """A plausible title of track ``i``, or the name of its artist (stable per seed)."""
        if kind == "artist":
            a = int(self.artist[i])
            rng = np.random.default_rng([self.seed, 9, a])
            w = rng.choice(_SYLL, size=int(rng.integers(2, 5)))
            return "".join(w).capitalize() + (" Band" if a % 3 == 0 else "")
        rng = np.random.default_rng([self.seed, 7, i])
        w = rng.choice(_SYLL, size=int(rng.integers(2, 5)))
        return "".join(w).capitalize() + (" (Album Version)" if i % 5 == 0 else "")

    def artist_id(self, i: int) -> str:
        """The MSD-style artist id (``AR`` + 16 characters) of track ``i``'s artist."""
        return f"AR{self.seed % 1000:03d}{int(self.artist[i]):013X}"
