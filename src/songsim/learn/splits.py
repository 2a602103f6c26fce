"""Train/val/test splits of labelled pairs plus sampled unlabelled negatives.

``track`` mode (default) assigns *tracks* to train/val/test, so no song is seen in two splits; a
pair whose ends fall in different splits is dropped (and counted). ``artist`` mode assigns *artists*
(from the song metadata table), so no artist is seen in two splits: the cold-start-honest split, since
songs of one artist are close on Last.fm and a track split lets a model recognise the artist. ``pair``
mode assigns pairs at random, reproducing the published split (songs leak across splits, and the report
says how many).
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from songsim.core import schemas
from songsim.core.config import SplitsConfig, section
from songsim.core.report import StageReport
from songsim.core.writers import write_json, write_table
from songsim.ingest.audio_shards import AudioShards, read_artists
from songsim.learn.coded_pairs import CodedPairs, distinct_tracks, sample_negatives, unique_sorted

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MIN_LABELLED = {"train": 2, "val": 1, "test": 1}  # fewer cannot train (batch norm), validate or test


class SplitError(ValueError):
    """A set cannot be split usefully (too few pairs whose songs have the inputs); the message says why."""
SETS = ("lyrics", "multimodal", "audio", "catalog")  # the order seeds each set's negatives: never reorder


def _assign(n: int, ratios: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """Split labels 0/1/2 for n items, exact proportions, random order."""
    cut = np.round(np.cumsum(ratios)[:2] * n).astype(int)
    lab = np.zeros(n, dtype=np.int8)
    lab[cut[0]:cut[1]] = 1
    lab[cut[1]:] = 2
    rng.shuffle(lab)
    return lab


def track_assignment(tracks: list[str], ratios: tuple[float, float, float], seed: int) -> np.ndarray:
    """Split label per track from a seeded hash of its id: the same track lands in the same split in
    every set that uses the same ratios, so multimodal test songs are lyrics test songs too."""
    u = np.array([zlib.crc32(f"{seed}:{t}".encode()) / 2**32 for t in tracks])
    edges = np.cumsum(ratios)[:2]
    return np.searchsorted(edges, u, side="right").astype(np.int8)


def _track_set(df: pl.DataFrame) -> set[str]:
    return set(distinct_tracks(df).to_list())  # one string per track


def build_set(pairs: CodedPairs, eligible: set[str], ratios: tuple[float, float, float],
              cfg: SplitsConfig, set_name: str, symmetric: bool,
              artists: dict[str, str] | None = None,
              listed: tuple[np.ndarray, int] | None = None) -> tuple[dict[str, pl.DataFrame], dict]:
    """Split one set; returns the three tables and this set's report section. ``artists`` (track id ->
    artist id) is what ``artist`` mode splits by, and lets the report count artists that span splits.
    The pairs stay integer codes until a split's own table is written (``listed``: ``pairs.listed()``,
    passed in when several sets share it), so memory holds no Python object and no string per pair."""
    rep = StageReport(f"build_splits.{set_name}", unit="pairs")
    rng = np.random.default_rng([cfg.seed, SETS.index(set_name)])
    n_in = len(pairs)
    names, n_names = pairs.names, len(pairs.names)
    elig = np.asarray(names.is_in(sorted(eligible)).to_numpy(), dtype=bool)  # per code
    ok_src = elig[pairs.src]
    ok_tgt = elig[pairs.tgt]
    rep.drop("src_not_in_set", int((~ok_src).sum()))
    rep.drop("tgt_not_in_set", int((ok_src & ~ok_tgt).sum()))
    rows = np.nonzero(ok_src & ok_tgt)[0]  # the set's pairs, input order
    del ok_src, ok_tgt
    artists = artists or {}
    present = np.zeros(n_names, dtype=bool)
    present[pairs.src[rows]] = True
    present[pairs.tgt[rows]] = True
    pool_codes = np.nonzero(present)[0].astype(np.int64)  # ascending: the set's tracks in id order
    if cfg.mode in ("track", "artist"):
        tracks = names.gather(pool_codes).to_list()
        # artist mode: a track goes where its artist goes (a track of unknown artist is its own group)
        keys = [artists.get(t, t) for t in tracks] if cfg.mode == "artist" else tracks
        lab = track_assignment(keys, ratios, cfg.seed)
        lab_of = np.full(n_names, -1, dtype=np.int8)
        lab_of[pool_codes] = lab
        s_lab, t_lab = lab_of[pairs.src[rows]], lab_of[pairs.tgt[rows]]
        same = s_lab == t_lab
        rep.drop("cross_split", int((~same).sum()))
        rows, split_of = rows[same], s_lab[same]
        pools = {k: pool_codes[lab == k] for k in range(3)}
    else:
        split_of = _assign(len(rows), ratios, rng)
        pools = {k: pool_codes for k in range(3)}
    taken, n_taken = listed if listed is not None else pairs.listed()
    added = np.zeros(0, dtype=np.int64)  # ascending unordered keys of the negatives drawn so far
    out: dict[str, pl.DataFrame] = {}
    sizes: dict[str, dict] = {}
    for k, split in enumerate(SPLITS):
        r = rows[split_of == k]
        rep.keep(len(r))
        ns, nt = sample_negatives(pools[k], int(round(cfg.neg_ratio * len(r))), taken, n_taken, added, n_names,
                            rng, symmetric)
        n_taken += len(ns)
        added = unique_sorted(np.concatenate([added, np.minimum(ns, nt) * n_names + np.maximum(ns, nt)]))
        df = pl.concat([
            pl.DataFrame({"src": names.gather(pairs.src[r]), "tgt": names.gather(pairs.tgt[r]),
                          "score": pairs.score[r], "labelled": np.ones(len(r), dtype=bool)},
                         schema={"src": pl.String, "tgt": pl.String, "score": pl.Float32, "labelled": pl.Boolean}),
            pl.DataFrame({"src": names.gather(ns), "tgt": names.gather(nt),
                          "score": np.full(len(ns), cfg.neg_label, dtype=np.float32),
                          "labelled": np.zeros(len(ns), dtype=bool)},
                         schema={"src": pl.String, "tgt": pl.String, "score": pl.Float32, "labelled": pl.Boolean}),
        ])
        df = df.with_columns((pl.col("score") >= cfg.threshold).cast(pl.Int8).alias("label"))
        if split == "train" and cfg.data_fraction < 1.0:
            keep = int(round(cfg.data_fraction * df.height))
            df = df.sample(n=keep, seed=cfg.seed)
        df = df.sample(fraction=1.0, shuffle=True, seed=cfg.seed + k).select(schemas.SPLIT.names)
        out[split] = df
        sizes[split] = {
            "pairs": df.height,
            "labelled": int(df["labelled"].sum()),
            "negatives": int((~df["labelled"]).sum()),
            "positive_labels": int(df["label"].sum()),
            "tracks": len(distinct_tracks(df)),
            "score_hist": np.histogram(df["score"].to_numpy(), bins=10, range=(0, 1))[0].tolist(),
        }
    track_sets = [_track_set(out[s]) for s in SPLITS]
    leaked = (track_sets[0] & track_sets[1]) | (track_sets[0] & track_sets[2]) | (track_sets[1] & track_sets[2])
    assert rep.read == n_in
    split_of_artist: dict[str, set[int]] = {}
    for k, ts in enumerate(track_sets):
        for t in ts:
            if t in artists:
                split_of_artist.setdefault(artists[t], set()).add(k)
    section = {"mode": cfg.mode, "ratios": list(ratios), "eligible_tracks": len(eligible),
               **rep.to_dict(), "splits": sizes, "leaked_tracks": len(leaked),
               "leaked_artists": sum(len(v) > 1 for v in split_of_artist.values()),
               "tracks_without_artist": len(set().union(*track_sets) - set(artists))}
    for k in ("stage", "seconds", "throughput_per_s", "examples", "reasons", "quarantined", "unit"):
        section.pop(k, None)
    return out, section


def build_splits(pairs_path: str | Path, lyrics_path: str | Path, features_dir: str | Path,
                 out_dir: str | Path, cfg: SplitsConfig, symmetric: bool, songs_path: str | Path | None = None) -> dict:
    """Write ``<out_dir>/<set>/{train,val,test}.parquet`` for the four sets: lyrics (songs with lyrics),
    multimodal (with both), audio (with audio) and catalog (with either)."""
    pairs = CodedPairs.read(pairs_path)
    lyr = set(pq.read_table(lyrics_path, columns=["track_id"]).column(0).to_pylist())
    aud = AudioShards(features_dir).track_ids()
    artists = read_artists(songs_path) if songs_path is not None and Path(songs_path).exists() else {}
    if cfg.mode == "artist" and not artists:
        raise ValueError(f"splits.mode is 'artist' but {songs_path} gives no artist ids (run chunk_audio)")
    report: dict = {"stage": "build_splits", "pairs_in": len(pairs), "lyrics_tracks": len(lyr),
                    "audio_tracks": len(aud), "sets": {}}
    all_tables: dict[str, dict[str, pl.DataFrame]] = {}
    listed = pairs.listed()  # the same for both sets
    for set_name, eligible, ratios in (("lyrics", lyr, cfg.lyrics_ratios),
                                       ("multimodal", lyr & aud, cfg.multimodal_ratios),
                                       ("audio", aud, cfg.audio_ratios),
                                       ("catalog", lyr | aud, cfg.catalog_ratios)):
        tables, section = build_set(pairs, eligible, ratios, cfg, set_name, symmetric, artists, listed)
        all_tables[set_name] = tables
        report["sets"][set_name] = section
        log.info("%s: %s", set_name, {s: v["pairs"] for s, v in section["splits"].items()})
    problems = []
    for set_name, section in report["sets"].items():
        have = {s: v["labelled"] for s, v in section["splits"].items()}
        empty = [s for s, n in have.items() if n < MIN_LABELLED[s]]
        if empty:
            got = ", ".join(f"{s} {n}" for s, n in have.items())
            need = ", ".join(f"{s} {n}" for s, n in MIN_LABELLED.items())
            problems.append(f"{set_name} set: too few labelled pairs in {', '.join(empty)} ({got}; need at least "
                            f"{need}) from {section['eligible_tracks']} eligible tracks")
    if problems:
        lyr_n, aud_n = report["lyrics_tracks"], report["audio_tracks"]
        raise SplitError("; ".join(problems) + f". Inputs: {report['pairs_in']} Last.fm pairs, lyrics for "
                         f"{lyr_n} tracks, audio for {aud_n}, both for {len(lyr & aud)}: the data must share "
                         f"tracks (pairs whose two songs have lyrics/audio) for a set to be trained")
    for set_name, tables in all_tables.items():  # written only once every set is usable
        for split, df in tables.items():
            write_table(df.to_arrow(), Path(out_dir) / set_name / f"{split}.parquet", schemas.SPLIT)
    return report


def run(params: dict) -> dict:
    """The DVC stage: pairs + lyrics + audio tables -> ``paths.splits`` + its report."""
    paths = section(params, "paths")
    symmetric = section(params, "extract_pairs").symmetric
    rep = build_splits(paths.pairs, paths.lyrics, paths.audio, paths.splits, section(params, "splits"), symmetric,
                       paths.songs)
    write_json(paths.report("build_splits"), rep)
    return rep
