"""A synthetic world written in the exact real file formats (the project's embedded default).

Every track carries latent factors: a *shared* part seen by both lyrics and audio, a *lyrics-private*
part and an *audio-private* part, each drawn around one of a few cluster centres; tracks near one artist
centre share that artist. The per-song statistics (list lengths, scores, words, segments, timbre, chroma,
duration, tempo, loudness, key, mode) follow the genuine samples (``synth.calibration``); the latent factors
only decide *which* song gets which value, so similar songs get similar content. The words are real English
stems (``synth.vocab``), and lyric topics are laid out along the words' real GloVe vectors.

Track ``i`` lists track ``j`` with the observed Last.fm score

    sigmoid(BETA cos(i, j) + B0 + (level(i) + level(j)) / 2 + ARTIST [same artist] + eps),  eps ~ N(0, NOISE^2)

where ``cos`` weighs the shared, lyrics and audio factors 0.5 / 0.25 / 0.25 and ``level`` is a song's own
score level (from its factors: some lists sit near 0.001, others near 0.1), so a list has its top items
(the artist's songs) near 1 and a long tail near 0, as Last.fm lists do. The oracle of a listed
pair is the noise-free expected score. A lyrics-only model recovers the shared and lyrics factors, not the
audio ones (and vice versa), so fusing both modalities can do better. ``synth.write`` writes the files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from songsim.core.config import CoverageConfig
from songsim.core.published import PUBLISHED
from songsim.synth import calibration as cal
from songsim.synth.vocab import build_vocabulary


@dataclass(frozen=True)
class WorldSize:
    n_tracks: int  # track ids in the world
    clusters: tuple[int, int, int] = (8, 6, 6)  # shared, lyrics, audio
    songs_per_artist: int = 4  # mean tracks per artist (artists are drawn from their own random stream)


# the size changes the number of tracks only; every per-song statistic comes from synth.calibration, and which
# share of the tracks each source covers from the coverage (synth.coverage; core.published)
SIZES = {
    "tiny": WorldSize(240),
    "default": WorldSize(2000),
    "medium": WorldSize(20_000),  # real-shaped with PUBLISHED: >= 3,000 test songs, >= 1,000 queries (bench/README)
    "large": WorldSize(125_000),
}
VOCAB = 5000  # musiXmatch-like stems, as in the real dataset

D = 6  # dimensions of each latent part
W_SHARED, W_LYR, W_AUD = 0.5, 0.25, 0.25
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
HEX = np.array(list("0123456789ABCDEF"))
_SYLL = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "bu", "da", "fe", "go", "hi", "ja", "ko",
         "li", "ma", "no", "pe", "ri", "so", "tu", "va", "ye", "zo", "an", "el", "in", "or", "un", "ay"]
GENRES = ["rock", "pop", "jazz", "hip hop", "electronic", "folk", "metal", "soul", "blues", "indie",
           "country", "reggae"]
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(32)  # E[f(N(0, 1))] ~ sum(w f(x)) / sum(w)
MAJOR = np.array([6.4, 2.2, 3.5, 2.3, 4.4, 4.1, 2.5, 5.2, 2.4, 3.7, 2.3, 2.9])  # key profiles (C major / minor)
MINOR = np.array([6.3, 2.7, 3.5, 5.4, 2.6, 3.5, 2.5, 4.8, 4.0, 2.7, 3.3, 3.2])


def observed_score(logit: np.ndarray) -> np.ndarray:
    """The score a logit gives, floored like the real files' smallest scores."""
    return np.maximum(expit(logit), cal.SCORE_FLOOR)


def expected_score(logit: np.ndarray, sigma: float = cal.NOISE) -> np.ndarray:
    """E[observed_score(logit + N(0, sigma^2))], elementwise (Gauss-Hermite quadrature, 32 nodes)."""
    logit = np.asarray(logit, dtype=float)
    return observed_score(logit[..., None] + sigma * _GH_X) @ (_GH_W / _GH_W.sum())


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    v = rng.normal(size=shape)
    return v / np.linalg.norm(v, axis=0, keepdims=True)


class World:
    """Latent state of a synthetic world; writers in ``synth.write`` turn it into raw files."""

    def __init__(self, size: str | WorldSize, seed: int, coverage: CoverageConfig | None = None):
        if isinstance(size, str):
            if size not in SIZES:
                raise ValueError(f"unknown world size {size!r} ({', '.join(SIZES)})")
            size = SIZES[size]
        self.size, self.seed = size, seed
        self.coverage = cov = PUBLISHED if coverage is None else coverage  # the real shape unless told otherwise
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
        self.has_lastfm = rng.random(n) < cov.lastfm
        self.has_lyrics = rng.random(n) < cov.lyrics
        self.has_audio = rng.random(n) < cov.audio
        p = np.random.default_rng([seed, 10])  # projections of the latent factors, their own stream
        # score level: a standard-normal mix of the three parts, mostly shared (both modalities see it)
        self.level_dir = [_unit(p, D) for _ in range(3)]
        g = sum(w * (z @ d) for w, z, d in zip((cal.LEVEL_SHARED, 1.0, 1.0), self.latent, self.level_dir))
        g = (g - g.mean()) / (g.std() + 1e-9)  # standardised over this world's tracks
        self.level = cal.B1 * g - cal.B2 * np.minimum(g, 0.0) ** 2
        # lyrics: real stems; topics follow the words' GloVe vectors (top principal axes, one per factor)
        vocab = build_vocabulary(VOCAB)
        self.words, self.unstemmed, self.glove = vocab.stems, vocab.words, vocab.vectors
        centred = self.glove - self.glove.mean(axis=0)
        axes = np.linalg.svd(centred, full_matrices=False)[2][:2 * D]  # (2D, 50)
        emb = centred @ axes.T  # (V, 2D)
        self.word_emb = (emb / emb.std(axis=0)).astype(np.float32)
        self.word_prior = -cal.ZIPF * np.log(np.arange(1, VOCAB + 1) + cal.ZIPF_SHIFT)
        # audio: timbre song level over (shared, audio), modulation over audio, scalar attributes
        self.timbre_mod = _unit(p, D, 12) * np.sqrt(D)  # (D, 12), audio-private
        # song-level timbre (12) and attributes (duration, tempo, loudness, key, mode, segment rate) as linear
        # maps of (shared, audio) factors, standardised over this world's tracks
        za = np.concatenate([self.latent[0], self.latent[2]], axis=1)  # (n, 2D)
        self._song_maps = []
        for m in (np.linalg.qr(p.normal(size=(2 * D, 12)))[0], _unit(p, 2 * D, 6)):
            y = za @ m
            self._song_maps.append((m, y.mean(axis=0), y.std(axis=0) + 1e-9))
        self.artist = self._assign_artists(np.random.default_rng([seed, 8]))
        order = np.argsort(self.artist, kind="stable")
        cuts = np.flatnonzero(np.diff(self.artist[order])) + 1
        self._mates = {int(self.artist[g[0]]): g for g in np.split(order, cuts)}

    def _assign_artists(self, rng: np.random.Generator) -> np.ndarray:
        """Artist index per track: the nearest of ``n / songs_per_artist`` centres (random tracks) in the
        similarity-weighted latent space, so one artist's songs are alike on Last.fm."""
        n = self.size.n_tracks
        z = np.concatenate([np.sqrt(w) * p for w, p in zip((W_SHARED, W_LYR, W_AUD), self.latent)], axis=1)
        centres = z[rng.choice(n, size=max(2, n // self.size.songs_per_artist), replace=False)]
        out = np.empty(n, dtype=np.int64)
        for k in range(0, n, 4096):  # (block, artists) similarities, bounded memory at any size
            out[k:k + 4096] = np.argmax(z[k:k + 4096] @ centres.T, axis=1)
        return out

    # ---- similarity ------------------------------------------------------------------------------
    def cosine(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        s, l, a = self.latent
        return W_SHARED * (s[i] * s[j]).sum(-1) + W_LYR * (l[i] * l[j]).sum(-1) + W_AUD * (a[i] * a[j]).sum(-1)

    def logits(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Noise-free logit of "track i lists track j" (symmetric)."""
        same = self.artist[i] == self.artist[j]
        return cal.BETA * self.cosine(i, j) + cal.B0 + (self.level[i] + self.level[j]) / 2 + cal.ARTIST * same

    def oracle(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Expected observed score of source ``i`` listing ``j`` (the noise-free target)."""
        return expected_score(self.logits(np.asarray(i), np.asarray(j)))

    def similars(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Targets and observed scores for source ``i``, sorted by non-increasing score. The candidates are
        the artist's other songs and up to ``POOL`` random tracks; the listed ones are drawn with weights
        ``exp(PICK cos + ARTIST same)`` (Gumbel top-k), the list length from the real distribution."""
        n = self.size.n_tracks
        # sample with replacement and drop repeats: O(pool), where choice(replace=False) is O(n)
        pool = np.unique(rng.integers(0, n - 1, size=min(cal.POOL, n - 1)))
        pool = np.union1d(pool + (pool >= i), self._mates[int(self.artist[i])])
        pool = pool[pool != i]
        src = np.full(len(pool), i)
        same = self.artist[pool] == self.artist[i]
        key = cal.PICK * self.cosine(src, pool) + cal.ARTIST * same + rng.gumbel(size=len(pool))
        k = int(np.clip(round(cal.LIST_LENGTH[0] * np.exp(cal.LIST_LENGTH[1] * rng.normal())), 1, len(pool)))
        pick = pool[np.argsort(-key, kind="stable")[:k]]
        obs = np.round(observed_score(self.logits(src[:k], pick) + cal.NOISE * rng.normal(size=k)), 5)
        order = np.argsort(-obs, kind="stable")
        return pick[order], obs[order]

    # ---- per-track content -----------------------------------------------------------------------
    def _song_level(self, z: np.ndarray, which: int) -> np.ndarray:
        """Standardised song-level values from (shared, audio) factors ``z``: 0 = timbre (12), 1 = attributes (6)."""
        m, mean, std = self._song_maps[which]
        return (z @ m - mean) / std

    def lyrics_counts(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        z = np.concatenate([self.latent[0][i], self.latent[1][i]])
        logit = self.word_prior + cal.TOPIC * (self.word_emb @ z)
        p = np.exp(logit - logit.max())
        p /= p.sum()  # (V,)
        total = max(1, int(round(float(cal.quantile_map(rng.normal(), cal.WORDS)))))
        fresh = min(total, max(1, round(cal.FRESH[0] * total ** cal.FRESH[1])))
        counts = rng.multinomial(fresh, p)
        counts += rng.multinomial(total - fresh, counts / fresh)  # repeats of the song's own words
        idx = np.nonzero(counts)[0]
        return idx + 1, counts[idx]  # 1-based word indices

    def audio(self, i: int, rng: np.random.Generator) -> dict:
        s, a = self.latent[0][i], self.latent[2][i]
        z = np.concatenate([s, a])  # (2D,)
        g = cal.ATTR_LATENT * self._song_level(z, 1) + np.sqrt(1 - cal.ATTR_LATENT**2) * rng.normal(size=6)
        duration = max(5.0, float(cal.quantile_map(g[0], cal.DURATION)))
        rate = cal.SEGMENT_RATE[0] * np.exp(cal.SEGMENT_RATE[1] * g[5])
        n = max(3, int(round(duration * rate)))
        fade_in = float(rng.uniform(0.0, 0.5))
        seg = rng.gamma(4.0, 1.0, size=n)
        seg *= (duration - fade_in - 0.5) / seg.sum()  # segments tile the song
        start = fade_in + np.concatenate([[0.0], np.cumsum(seg)[:-1]])
        sh_song, sh_mod = cal.TIMBRE_SHARE
        freq = 0.02 + 0.08 * expit(3 * a[:3].sum())  # modulation cycles per segment (audio-private)
        wave = np.sqrt(2) * np.sin(2 * np.pi * freq * np.arange(n) + rng.uniform(0, 2 * np.pi))
        x = (np.sqrt(sh_song) * self._song_level(z, 0)  # (12,) song level
             + np.sqrt(sh_mod) * wave[:, None] * (a @ self.timbre_mod)[None, :]  # (n, 12) modulation
             + np.sqrt(1 - sh_song - sh_mod) * rng.normal(size=(n, 12)))
        timbre = np.stack([cal.quantile_map(x[:, c], cal.TIMBRE[c]) for c in range(12)], axis=1)
        key = min(11, int(np.searchsorted(np.cumsum(cal.KEY_SHARE) / sum(cal.KEY_SHARE), norm.cdf(g[3]), "right")))
        mode = int(g[4] > norm.ppf(1 - cal.MAJOR_SHARE))
        profile = np.roll(MAJOR if mode else MINOR, key) / 6.4
        energy = profile ** cal.CHROMA_SHARPNESS * np.asarray(cal.PITCH_BIAS)  # (12,)
        chroma = energy[None, :] * rng.gamma(cal.CHROMA_SHAPE, size=(n, 12))
        chroma /= chroma.max(axis=1, keepdims=True)  # MSD: each segment's max pitch class is exactly 1
        loud = float(cal.quantile_map(g[2], cal.LOUDNESS))
        return {
            "timbre": timbre, "chroma": chroma, "segments_start": start, "duration": duration,
            "tempo": float(cal.quantile_map(g[1], cal.TEMPO)), "key": key,
            "key_confidence": float(rng.uniform(0.2, 1.0)), "mode": mode, "loudness": loud,
            "seg_loudness": loud + rng.normal(0, 4, n) - 5,
        }

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
