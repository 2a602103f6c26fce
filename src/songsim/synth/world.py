"""A small synthetic world written in the exact real file formats (the project's embedded default).

Every track carries latent factors: a *shared* part seen by both lyrics and audio, a *lyrics-private*
part and an *audio-private* part, each drawn around one of a few cluster centres. Lyrics word counts
come from a topic model over the shared + lyrics factors; timbre/chroma sequences from the shared +
audio factors (part of it only in the temporal modulation). The noise-free similarity of two tracks is

    oracle(i, j) = E[clip(sigmoid(beta * (w_s cos_s + w_l cos_l + w_a cos_a) + bias) + eps, 0.001, 1)]

with ``eps ~ N(0, noise)``; the Last.fm score is one draw of that. A lyrics-only model can recover
``cos_s`` and ``cos_l`` but not ``cos_a`` (and vice versa), so fusing both modalities can do better.
Outputs: Last.fm zips (and optionally ``lastfm_similars.db``), musiXmatch txt files (and optionally
``mxm_dataset.db``), an MSD tree of ``.h5`` files, a GloVe-format text file, and ``oracle.parquet``
holding the oracle score of every listed pair.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy.special import expit
from scipy.stats import norm
from tqdm import tqdm

from songsim import schemas
from songsim.synth.msd_h5 import write_msd_file
from songsim.writers import ParquetStreamWriter, atomic_path, atomic_write_text

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
_HEX = np.array(list("0123456789ABCDEF"))
_SYLL = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "bu", "da", "fe", "go", "hi", "ja", "ko",
         "li", "ma", "no", "pe", "ri", "so", "tu", "va", "ye", "zo", "an", "el", "in", "or", "un", "ay"]
_GENRES = ["rock", "pop", "jazz", "hip hop", "electronic", "folk", "metal", "soul", "blues", "indie",
           "country", "reggae"]


def expected_clipped(mu: np.ndarray, sigma: float, lo: float = LO, hi: float = HI) -> np.ndarray:
    """E[clip(mu + N(0, sigma^2), lo, hi)], elementwise."""
    a, b = (lo - mu) / sigma, (hi - mu) / sigma
    return (lo * norm.cdf(a) + hi * norm.sf(b) + mu * (norm.cdf(b) - norm.cdf(a))
            + sigma * (norm.pdf(a) - norm.pdf(b)))


class World:
    """Latent state of a synthetic world; writers below turn it into raw files."""

    def __init__(self, size: str, seed: int):
        if size not in SIZES:
            raise ValueError(f"unknown world size {size!r} (tiny, default, large)")
        self.size_name, self.size, self.seed = size, SIZES[size], seed
        s = self.size
        rng = np.random.default_rng([seed, 0])
        n = s.n_tracks
        ids = set()
        while len(ids) < n:
            k = n - len(ids)
            a = rng.choice(_LETTERS, size=(k, 5))
            h = rng.choice(_HEX, size=(k, 7))
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


# ---- writers ----------------------------------------------------------------------------------------


def _fmt_score(x: float) -> str:
    return "1" if x >= 1.0 else f"{x:.17g}"


def lastfm_json(track: str, artist: str, title: str, sims: list[tuple[str, float]],
                tags: list[tuple[str, int]], timestamp: str) -> str:
    """One Last.fm track file: a single line, keys in the real order, ASCII with \\u escapes."""
    sim_txt = ", ".join(f"[{json.dumps(t)}, {_fmt_score(s)}]" for t, s in sims)
    tag_txt = ", ".join(f"[{json.dumps(t)}, {json.dumps(str(c))}]" for t, c in tags)
    return (f'{{"artist": {json.dumps(artist)}, "timestamp": {json.dumps(timestamp)}, '
            f'"similars": [{sim_txt}], "tags": [{tag_txt}], "track_id": {json.dumps(track)}, '
            f'"title": {json.dumps(title)}}}')


def _name(world: World, i: int, kind: str) -> str:
    rng = np.random.default_rng([world.seed, 7, i])
    w = rng.choice(_SYLL, size=int(rng.integers(2, 5)))
    base = "".join(w).capitalize()
    if kind == "artist":
        return base + (" Band" if i % 3 == 0 else "")
    return base + (" (Album Version)" if i % 5 == 0 else "")


def write_world(out_dir: str | Path, size: str, seed: int, lastfm_sqlite: bool = True,
                mxm_sqlite: bool = False) -> dict:
    """Write all raw inputs of a world under ``out_dir``; returns a summary (also saved as world.json)."""
    out = Path(out_dir)
    world = World(size, seed)
    s = world.size
    n = s.n_tracks
    tids = world.track_ids
    summary: dict = {"size": size, "seed": seed, **{k: v for k, v in asdict(s).items()}}
    rng = np.random.default_rng([seed, 1])
    # Last.fm: split the tracks with JSON files into the train and test archives (as distributed)
    lf = np.nonzero(world.has_lastfm)[0]
    is_test = rng.random(len(lf)) < 0.2
    (out / "lastfm").mkdir(parents=True, exist_ok=True)
    n_pairs = 0
    oracle_w = ParquetStreamWriter(out / "oracle.parquet", schemas.ORACLE)
    lf_db = _LastfmDb(out / "lastfm" / "lastfm_similars.db") if lastfm_sqlite else None
    for origin, members in (("train", lf[~is_test]), ("test", lf[is_test])):
        zpath = out / "lastfm" / f"lastfm_{origin}.zip"
        with atomic_path(zpath) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            buf_src: list[str] = []
            buf_tgt: list[str] = []
            buf_o: list[float] = []
            for i in tqdm(members, desc=f"lastfm {origin}", disable=len(members) < 5000):
                r = np.random.default_rng([seed, 2, int(i)])
                tgt, score = world.similars(int(i), r)
                if r.random() < 0.05:  # real lists are sometimes empty
                    tgt, score = tgt[:0], score[:0]
                sims = [(tids[j], float(x)) for j, x in zip(tgt, score)]
                g = _GENRES[world.genre[i] % len(_GENRES)]
                tags = [] if r.random() < 0.2 else [(g, 100), (g + " classics", int(r.integers(5, 60)))]
                tid = tids[i]
                spans = ((1, 28), (0, 24), (0, 60), (0, 60), (0, 999999))
                day, hh, mm, ss, us = (int(r.integers(a, b)) for a, b in spans)
                stamp = f"2011-08-{day:02d} {hh:02d}:{mm:02d}:{ss:02d}.{us:06d}"
                zf.writestr(f"lastfm_{origin}/{tid[2]}/{tid[3]}/{tid[4]}/{tid}.json",
                            lastfm_json(tid, _name(world, i, "artist"), _name(world, i, "title"), sims, tags, stamp))
                if lf_db is not None:
                    lf_db.add(tid, sims)
                o = world.oracle(np.full(len(tgt), i), tgt)
                buf_src.extend([tid] * len(tgt))
                buf_tgt.extend(tids[tgt].tolist())
                buf_o.extend(o.tolist())
                n_pairs += len(tgt)
                if len(buf_src) > 200_000:
                    oracle_w.write({"src": buf_src, "tgt": buf_tgt, "oracle": pa.array(buf_o, pa.float32())})
                    buf_src, buf_tgt, buf_o = [], [], []
            oracle_w.write({"src": buf_src, "tgt": buf_tgt, "oracle": pa.array(buf_o, pa.float32())})
    oracle_w.close()
    if lf_db is not None:
        lf_db.close()
    summary["lastfm"] = {"tracks": int(len(lf)), "test_tracks": int(is_test.sum()), "pairs": n_pairs}

    # musiXmatch text files (lines sorted by track id), optional SQLite twin
    ly = np.nonzero(world.has_lyrics)[0]
    test_ly = rng.random(len(ly)) < 0.11
    (out / "mxm").mkdir(parents=True, exist_ok=True)
    vocab_line = "%" + ",".join(world.words) + "\n"
    db = _MxmDb(out / "mxm" / "mxm_dataset.db", world.words) if mxm_sqlite else None
    for split, members in (("train", ly[~test_ly]), ("test", ly[test_ly])):
        path = out / "mxm" / f"mxm_dataset_{split}.txt"
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f"# {'TRAINING' if split == 'train' else 'TESTING'} SET\n"
                     "# songsim synthetic world in the musiXmatch dataset format\n"
                     f"# seed {seed}, size {size}\n#\n")
            fh.write(vocab_line)
            for i in tqdm(members, desc=f"mxm {split}", disable=len(members) < 5000):
                r = np.random.default_rng([seed, 3, int(i)])
                idx, cnt = world.lyrics_counts(int(i), r)
                mxm_id = 1_000_000 + int(i)
                fh.write(f"{tids[i]},{mxm_id}," + ",".join(f"{a}:{b}" for a, b in zip(idx, cnt)) + "\n")
                if db is not None:
                    db.add(tids[i], mxm_id, idx, cnt, split == "test")
    if db is not None:
        db.close()
    summary["mxm"] = {"tracks": int(len(ly)), "test_tracks": int(test_ly.sum()), "vocab": s.vocab}

    # MSD tree of per-track HDF5 files
    au = np.nonzero(world.has_audio)[0]
    for i in tqdm(au, desc="msd h5", disable=len(au) < 2000):
        r = np.random.default_rng([seed, 4, int(i)])
        tid = str(tids[i])
        song = world.audio(int(i), r)
        song.update({
            "track_id": tid, "seed": int(r.integers(0, 2**31)),
            "audio_md5": "".join(r.choice(_HEX, 32)).lower().encode(),
            "artist_name": _name(world, int(i), "artist"), "title": _name(world, int(i), "title"),
            "release": "Synthetic Sessions", "song_id": "SO" + tid[2:], "artist_id": "AR" + tid[2:],
            "familiarity": float(r.uniform(0.2, 0.9)), "year": int(r.choice([0, 1990, 2001, 2008])),
            "terms": [_GENRES[world.genre[i] % len(_GENRES)], "synthetic"],
            "similar_artists": ["AR" + str(tids[(i + k) % n])[2:] for k in (1, 2, 3)],
        })
        path = out / "msd" / tid[2] / tid[3] / tid[4] / f"{tid}.h5"
        with atomic_path(path) as tmp:
            write_msd_file(tmp, song)
    summary["msd"] = {"tracks": int(len(au))}

    # GloVe-format vectors: 85% of the vocabulary plus unrelated words, carrying the topic geometry
    g_rng = np.random.default_rng([seed, 5])
    keep = g_rng.random(s.vocab) < 0.85
    (out / "glove").mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "glove" / "glove.synth.50d.txt") as tmp, open(tmp, "w", encoding="utf-8") as fh:
        vecs = world.word_emb @ world.glove_proj + 0.3 * g_rng.normal(size=(s.vocab, 50)).astype(np.float32)
        for w, v, k in zip(world.words, vecs, keep):
            if k:
                fh.write(w + " " + " ".join(f"{x:.5g}" for x in v) + "\n")
        for j in range(200):
            v = g_rng.normal(size=50)
            fh.write(f"zz{j}extra " + " ".join(f"{x:.5g}" for x in v) + "\n")
    summary["glove"] = {"words": int(keep.sum()) + 200, "vocab_covered": int(keep.sum())}
    atomic_write_text(out / "world.json", json.dumps(summary, indent=2) + "\n")
    return summary


class _LastfmDb:
    """lastfm_similars.db, written as the tracks are generated: ``similars_src`` rows are inserted
    directly, ``similars_dest`` is built inside SQLite from a scratch pair table (nothing held in memory)."""

    def __init__(self, path: Path):
        self._ctx = atomic_path(path)
        self.con = sqlite3.connect(self._ctx.__enter__())
        self.con.execute("CREATE TABLE similars_src (tid TEXT, target TEXT)")
        self.con.execute("CREATE TABLE similars_dest (tid TEXT, target TEXT)")
        self.con.execute("CREATE TEMP TABLE pairs (src TEXT, tgt TEXT, score TEXT, k INTEGER)")

    def add(self, tid: str, sims: list[tuple[str, float]]) -> None:
        self.con.execute("INSERT INTO similars_src VALUES (?, ?)", (tid, ",".join(f"{t},{x}" for t, x in sims)))
        self.con.executemany("INSERT INTO pairs VALUES (?, ?, ?, ?)",
                             ((tid, t, str(x), k) for k, (t, x) in enumerate(sims)))

    def close(self) -> None:
        # for each target, the sources that list it with the score they gave, in insertion order
        self.con.execute(
            "INSERT INTO similars_dest SELECT tgt, group_concat(src || ',' || score, ',') "
            "FROM (SELECT * FROM pairs ORDER BY tgt, rowid) GROUP BY tgt ORDER BY tgt")
        self.con.execute("DROP TABLE pairs")
        self.con.execute("CREATE INDEX idx_src ON similars_src (tid)")
        self.con.execute("CREATE INDEX idx_dest ON similars_dest (tid)")
        self.con.commit()
        self.con.close()
        self._ctx.__exit__(None, None, None)


class _MxmDb:
    """mxm_dataset.db as MSongsDB builds it: words(word) in vocabulary order, lyrics rows per word."""

    def __init__(self, path: Path, words: list[str]):
        self._ctx = atomic_path(path)
        self._tmp = self._ctx.__enter__()
        self.con = sqlite3.connect(self._tmp)
        self.words = words
        self.con.execute("CREATE TABLE words (word TEXT PRIMARY KEY)")
        self.con.executemany("INSERT INTO words VALUES (?)", ((w,) for w in words))
        self.con.execute("CREATE TABLE lyrics (track_id, mxm_tid INT, word TEXT, count INT, is_test INT, "
                         "FOREIGN KEY(word) REFERENCES words(word))")

    def add(self, tid: str, mxm_id: int, idx: np.ndarray, cnt: np.ndarray, is_test: bool) -> None:
        self.con.executemany("INSERT INTO lyrics VALUES (?, ?, ?, ?, ?)",
                             ((tid, mxm_id, self.words[a - 1], int(b), int(is_test)) for a, b in zip(idx, cnt)))

    def close(self) -> None:
        for col in ("track_id", "mxm_tid", "word", "count", "is_test"):
            self.con.execute(f"CREATE INDEX idx_{col} ON lyrics ({col})")
        self.con.commit()
        self.con.close()
        self._ctx.__exit__(None, None, None)
