"""Stage synth_world: write a :class:`~songsim.synth.world.World` as raw files in the exact real formats,
through one writer module per format (``synth.lastfm``, ``synth.mxm``, ``synth.msd``, ``synth.glove``).

Layout under ``out_dir``: ``lastfm/lastfm_{train,test}.zip`` (+ ``lastfm_similars.db``),
``mxm/mxm_dataset_{train,test}.txt`` (+ ``mxm_dataset.db``), ``msd/A/B/C/TR....h5``,
``mxm/mxm_reverse_mapping.txt``, ``glove/glove.6B.50d.world.txt`` (the real GloVe vectors of the world's
words), ``oracle.parquet`` (noise-free score of every listed pair), ``latent.parquet`` (every track's latent
factors, for the modality ceilings), ``world.json``.
Every track draws from its own seeded generator, so the files do not depend on iteration order.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from songsim.core import schemas
from songsim.core.config import CoverageConfig, section
from songsim.core.writers import ParquetStreamWriter, atomic_path, write_json
from songsim.synth.glove import write_glove_text
from songsim.synth.lastfm import LastfmDbWriter, LastfmZipWriter, track_json
from songsim.synth.msd import write_msd_file
from songsim.synth.mxm import MxmDbWriter, MxmTextWriter
from songsim.synth.world import GENRES, HEX, World, WorldSize

log = logging.getLogger(__name__)
GLOVE_MISSING = 1 - 4828 / 5000  # share of the vocabulary without a GloVe vector


def _write_lastfm(world: World, out: Path, rng: np.random.Generator, sqlite: bool) -> dict:
    """The two Last.fm archives (tracks split 80/20 as distributed), the optional db, and the oracle."""
    seed, tids = world.seed, world.track_ids
    lf = np.nonzero(world.has_lastfm)[0]
    is_test = rng.random(len(lf)) < 0.2
    # rounded, so that 1 - 0.83 compares as 0.17 did (the demo world's lists, byte for byte)
    empty_share = round(1.0 - world.coverage.lists, 12)
    (out / "lastfm").mkdir(parents=True, exist_ok=True)
    n_pairs = 0
    db_path = out / "lastfm" / "lastfm_similars.db"
    with LastfmDbWriter(db_path) if sqlite else nullcontext() as db, \
            ParquetStreamWriter(out / "oracle.parquet", schemas.ORACLE) as oracle_w:
        for origin, members in (("train", lf[~is_test]), ("test", lf[is_test])):
            buf: dict[str, list] = {"src": [], "tgt": [], "oracle": []}
            with LastfmZipWriter(out / "lastfm" / f"lastfm_{origin}.zip", origin) as zw:
                for i in tqdm(members, desc=f"lastfm {origin}", disable=len(members) < 5000):
                    r = np.random.default_rng([seed, 2, int(i)])
                    tgt, score = world.similars(int(i), r)
                    if r.random() < empty_share:  # real lists are sometimes empty (synth.coverage.lists)
                        tgt, score = tgt[:0], score[:0]
                    sims = [(tids[j], float(x)) for j, x in zip(tgt, score)]
                    g = GENRES[world.genre[i] % len(GENRES)]
                    tags = [] if r.random() < 0.2 else [(g, 100), (g + " classics", int(r.integers(5, 60)))]
                    tid = tids[i]
                    spans = ((1, 28), (0, 24), (0, 60), (0, 60), (0, 999999))
                    day, hh, mm, ss, us = (int(r.integers(a, b)) for a, b in spans)
                    stamp = f"2011-08-{day:02d} {hh:02d}:{mm:02d}:{ss:02d}.{us:06d}"
                    zw.add(tid, track_json(tid, world.name(i, "artist"), world.name(i, "title"), sims, tags, stamp))
                    if db is not None:
                        db.add(tid, sims)
                    buf["src"].extend([tid] * len(tgt))
                    buf["tgt"].extend(tids[tgt].tolist())
                    buf["oracle"].extend(world.oracle(np.full(len(tgt), i), tgt).tolist())
                    n_pairs += len(tgt)
                    if len(buf["src"]) > 200_000:
                        oracle_w.write({**buf, "oracle": pa.array(buf["oracle"], pa.float32())})
                        buf = {"src": [], "tgt": [], "oracle": []}
            oracle_w.write({**buf, "oracle": pa.array(buf["oracle"], pa.float32())})
    return {"tracks": int(len(lf)), "test_tracks": int(is_test.sum()), "pairs": n_pairs}


def _write_mxm(world: World, out: Path, rng: np.random.Generator, sqlite: bool, label: str) -> dict:
    """The two musiXmatch text files (lines sorted by track id) and the optional SQLite twin."""
    seed, tids = world.seed, world.track_ids
    ly = np.nonzero(world.has_lyrics)[0]
    test_ly = rng.random(len(ly)) < world.coverage.mxm_test
    (out / "mxm").mkdir(parents=True, exist_ok=True)
    with MxmDbWriter(out / "mxm" / "mxm_dataset.db", world.words) if sqlite else nullcontext() as db:
        for split, members in (("train", ly[~test_ly]), ("test", ly[test_ly])):
            comments = [f"{'TRAINING' if split == 'train' else 'TESTING'} SET",
                        "songsim synthetic world in the musiXmatch dataset format", f"seed {seed}, size {label}", ""]
            with MxmTextWriter(out / "mxm" / f"mxm_dataset_{split}.txt", world.words, comments) as w:
                for i in tqdm(members, desc=f"mxm {split}", disable=len(members) < 5000):
                    r = np.random.default_rng([seed, 3, int(i)])
                    idx, cnt = world.lyrics_counts(int(i), r)
                    mxm_id = 1_000_000 + int(i)
                    w.add(tids[i], mxm_id, idx, cnt)
                    if db is not None:
                        db.add(tids[i], mxm_id, idx, cnt, split == "test")
    with atomic_path(out / "mxm" / "mxm_reverse_mapping.txt") as tmp:  # the official stem<SEP>word layout
        tmp.write_text("".join(f"{s}<SEP>{w}\n" for s, w in zip(world.words, world.unstemmed)), encoding="utf-8")
    return {"tracks": int(len(ly)), "test_tracks": int(test_ly.sum()), "vocab": len(world.words)}


def _write_msd_song(world: World, out: Path, i: int) -> None:
    """Track ``i``'s MSD file, from its own seeded generator (the same bytes whichever process writes it)."""
    seed, tids, n = world.seed, world.track_ids, world.size.n_tracks
    r = np.random.default_rng([seed, 4, i])
    tid = str(tids[i])
    song = world.audio(i, r)
    song.update({
        "track_id": tid, "seed": int(r.integers(0, 2**31)),
        "audio_md5": "".join(r.choice(HEX, 32)).lower().encode(),
        "artist_name": world.name(i, "artist"), "title": world.name(i, "title"),
        "release": "Synthetic Sessions", "song_id": "SO" + tid[2:], "artist_id": world.artist_id(i),
        "familiarity": float(r.uniform(0.2, 0.9)), "year": int(r.choice([0, 1990, 2001, 2008])),
        "terms": [GENRES[world.genre[i] % len(GENRES)], "synthetic"],
        "similar_artists": [world.artist_id((i + k) % n) for k in (1, 2, 3)],
    })
    with atomic_path(out / "msd" / tid[2] / tid[3] / tid[4] / f"{tid}.h5") as tmp:
        write_msd_file(tmp, song)


_FORKED: tuple[World, Path] | None = None  # what the forked MSD writers inherit (never pickled)


def _write_msd_rows(rows: np.ndarray) -> int:
    world, out = _FORKED
    for i in rows:
        _write_msd_song(world, out, int(i))
    return len(rows)


def _write_msd(world: World, out: Path, workers: int = 1) -> dict:
    """The MSD tree of per-track HDF5 files, with readable artist and title metadata; ``workers`` forked
    processes write them (HDF5 with gzip is CPU-bound: the step that takes most of the stage)."""
    global _FORKED
    au = np.nonzero(world.has_audio)[0]
    bar = tqdm(total=len(au), desc="msd h5", unit="file", disable=len(au) < 2000)
    if workers > 1 and len(au) > 1:
        _FORKED = (world, out)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for done in pool.imap_unordered(_write_msd_rows, np.array_split(au, 8 * workers)):
                    bar.update(done)
        finally:
            _FORKED = None
    else:
        for i in au:
            _write_msd_song(world, out, int(i))
            bar.update()
    bar.close()
    return {"tracks": int(len(au))}


def _write_glove(world: World, out: Path) -> dict:
    """The real GloVe 6B 50d vectors of the world's words (unstemmed), in the GloVe text layout. Like the real
    dataset, a few words are missing (GLOVE_MISSING): the official vocabulary finds 4,828 of 5,000."""
    g_rng = np.random.default_rng([world.seed, 5])
    keep = g_rng.random(len(world.words)) >= GLOVE_MISSING
    (out / "glove").mkdir(parents=True, exist_ok=True)
    rows = ((w, v) for w, v, k in zip(world.unstemmed, world.glove, keep) if k)
    n = write_glove_text(out / "glove" / "glove.6B.50d.world.txt", rows)
    return {"words": n, "vocab_covered": int(keep.sum())}


def _write_latent(world: World, out: Path) -> dict:
    """``latent.parquet``: every track's latent factors (shared, lyrics, audio parts) and their projections on
    the score-level directions, in blocks: what the evaluation's modality ceilings read. Not a real-data file."""
    dim = world.latent[0].shape[1]
    schema = schemas.latent_schema(dim)
    level = np.stack([z @ d for z, d in zip(world.latent, world.level_dir)], axis=1).astype(np.float32)  # (n, 3)
    n = world.size.n_tracks
    with ParquetStreamWriter(out / "latent.parquet", schema) as w:
        for k in range(0, n, 65536):
            sl = slice(k, min(n, k + 65536))
            cols = {"track_id": world.track_ids[sl].tolist()}
            for name, z in zip(("shared", "lyrics", "audio"), world.latent):
                cols[name] = pa.FixedSizeListArray.from_arrays(pa.array(z[sl].ravel(), pa.float32()), dim)
            cols["level"] = pa.FixedSizeListArray.from_arrays(pa.array(level[sl].ravel(), pa.float32()), 3)
            w.write(cols)
    return {"tracks": int(n), "dim": int(dim)}


def write_world(out_dir: str | Path, size: str | WorldSize, seed: int, lastfm_sqlite: bool = True,
                mxm_sqlite: bool = False, workers: int = 1, coverage: CoverageConfig | None = None) -> dict:
    """Write all raw inputs of a world under ``out_dir``; returns a summary (also saved as world.json).
    ``size`` is a preset name (``tiny``, ``default``, ``medium``, ``large``) or a :class:`WorldSize`;
    ``coverage`` the share of tracks each source covers (the published figures when none is given);
    ``workers`` processes write the MSD files (the files are the same at any count)."""
    out = Path(out_dir)
    world = World(size, seed, coverage)
    label = size if isinstance(size, str) else f"custom ({world.size.n_tracks} tracks)"
    summary: dict = {"size": label, "seed": seed, **asdict(world.size), "coverage": asdict(world.coverage)}
    rng = np.random.default_rng([seed, 1])  # Last.fm then mxm archive assignment, in that order
    steps = (("lastfm", lambda: _write_lastfm(world, out, rng, lastfm_sqlite)),
             ("mxm", lambda: _write_mxm(world, out, rng, mxm_sqlite, label)),
             ("msd", lambda: _write_msd(world, out, workers)), ("glove", lambda: _write_glove(world, out)),
             ("latent", lambda: _write_latent(world, out)))
    for k, (name, step) in enumerate(steps, 1):
        t = time.perf_counter()
        summary[name] = step()
        log.info("synth_world %d/%d: %s written in %.1f s: %s", k, len(steps), name, time.perf_counter() - t,
                 summary[name])
    write_json(out / "world.json", summary)
    return summary


def run(params: dict) -> dict:
    """The DVC stage: params ``synth`` -> the world under ``paths.raw_dir``."""
    cfg = section(params, "synth")
    return write_world(section(params, "paths").raw_dir, cfg.size, cfg.seed, cfg.lastfm_sqlite, cfg.mxm_sqlite,
                       cfg.workers, cfg.coverage)
