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
from songsim.ingest.audio_shards import AudioShards

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MIN_LABELLED = {"train": 2, "val": 1, "test": 1}  # fewer cannot train (batch norm), validate or test


class SplitError(ValueError):
    """A set cannot be split usefully (too few pairs whose songs have the inputs); the message says why."""
SETS = ("lyrics", "multimodal")


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


def _member(keys: np.ndarray, x: int) -> bool:
    i = int(np.searchsorted(keys, x))
    return i < len(keys) and int(keys[i]) == x


def _negatives(tracks: np.ndarray, n: int, taken: np.ndarray, n_taken: int, added: set[int], n_names: int,
               rng: np.random.Generator, symmetric: bool) -> tuple[list[int], list[int]]:
    """Sample ``n`` distinct unlabelled pairs among the track codes ``tracks`` (ascending) avoiding the
    listed pairs (``taken``: sorted unordered keys ``min * n_names + max``; ``n_taken`` distinct listed
    (src, tgt)) and the negatives drawn before (``added``, unordered keys). Codes order like the track
    ids, so a draw is the same pair the string version drew."""
    src: list[int] = []
    tgt: list[int] = []
    if len(tracks) < 2 or n <= 0:
        return src, tgt
    max_pairs = len(tracks) * (len(tracks) - 1) // (2 if symmetric else 1)
    n = min(n, max(0, max_pairs - n_taken))
    seen: set[int] = set()
    tries = 0
    while len(src) < n and tries < 50 * n + 100:
        tries += 1
        a, b = (int(x) for x in tracks[rng.integers(0, len(tracks), 2)])
        if a == b:
            continue
        if symmetric and b < a:
            a, b = b, a
        key, either = a * n_names + b, min(a, b) * n_names + max(a, b)
        if key in seen or either in added or _member(taken, either):
            continue
        seen.add(key)
        src.append(a)
        tgt.append(b)
    return src, tgt


def _codes(col: pl.Series, names: pl.Series) -> np.ndarray:
    """Each id of ``col`` as its position in the sorted ``names`` (columnar: no Python object per pair)."""
    codes = col.replace_strict(names, pl.int_range(len(names), eager=True), return_dtype=pl.Int64)
    return np.asarray(codes.to_numpy(), dtype=np.int64)


def _track_set(df: pl.DataFrame) -> set[str]:
    return set(pl.concat([df["src"], df["tgt"]]).unique().to_list())  # one string per track


def build_set(pairs: pl.DataFrame, eligible: set[str], ratios: tuple[float, float, float],
              cfg: SplitsConfig, set_name: str, symmetric: bool,
              artists: dict[str, str] | None = None) -> tuple[dict[str, pl.DataFrame], dict]:
    """Split one set; returns the three tables and this set's report section. ``artists`` (track id ->
    artist id) is what ``artist`` mode splits by, and lets the report count artists that span splits.
    Pairs stay in columns; tracks are integer codes (their order is the ids' order) wherever a pair is
    looked at one by one (the negatives), so memory holds no Python object per pair."""
    rep = StageReport(f"build_splits.{set_name}", unit="pairs")
    rng = np.random.default_rng([cfg.seed, SETS.index(set_name)])
    n_in = pairs.height
    elig = sorted(eligible)  # one string per track
    ok_src = pairs["src"].is_in(elig)
    ok_tgt = pairs["tgt"].is_in(elig)
    rep.drop("src_not_in_set", int((~ok_src).sum()))
    rep.drop("tgt_not_in_set", int((ok_src & ~ok_tgt).sum()))
    p = pairs.filter(ok_src & ok_tgt)
    artists = artists or {}
    names = pl.concat([pairs["src"], pairs["tgt"]]).unique().sort()  # every track of the input, coded
    n_names = len(names)
    p_tracks = pl.concat([p["src"], p["tgt"]]).unique().sort()
    pool_codes = _codes(p_tracks, names)  # ascending: the set's tracks in id order
    if cfg.mode in ("track", "artist"):
        tracks = p_tracks.to_list()
        # artist mode: a track goes where its artist goes (a track of unknown artist is its own group)
        keys = [artists.get(t, t) for t in tracks] if cfg.mode == "artist" else tracks
        lab = track_assignment(keys, ratios, cfg.seed)
        lab_s = pl.Series(lab, dtype=pl.Int8)
        s_lab, t_lab = (np.asarray(p[c].replace_strict(p_tracks, lab_s, return_dtype=pl.Int8).to_numpy(),
                                   dtype=np.int8) for c in ("src", "tgt"))  # int8 even with no pairs
        same = s_lab == t_lab
        rep.drop("cross_split", int((~same).sum()))
        p = p.with_columns(pl.Series("split", s_lab)).filter(pl.Series(same))
        pools = {k: pool_codes[lab == k] for k in range(3)}
    else:
        p = p.with_columns(pl.Series("split", _assign(p.height, ratios, rng)))
        pools = {k: pool_codes for k in range(3)}
    src_c, tgt_c = _codes(pairs["src"], names), _codes(pairs["tgt"], names)
    n_taken = len(np.unique(src_c * n_names + tgt_c))  # distinct listed (src, tgt)
    taken = np.unique(np.minimum(src_c, tgt_c) * n_names + np.maximum(src_c, tgt_c))  # listed, either way
    del src_c, tgt_c
    added: set[int] = set()
    name_arr = names.to_numpy()
    out: dict[str, pl.DataFrame] = {}
    sizes: dict[str, dict] = {}
    for k, split in enumerate(SPLITS):
        lab_df = p.filter(pl.col("split") == k)
        rep.keep(lab_df.height)
        ns, nt = _negatives(pools[k], int(round(cfg.neg_ratio * lab_df.height)), taken, n_taken, added, n_names,
                            rng, symmetric)
        n_taken += len(ns)
        added.update(min(a, b) * n_names + max(a, b) for a, b in zip(ns, nt))
        df = pl.concat([
            lab_df.select("src", "tgt", pl.col("score").cast(pl.Float32), pl.lit(True).alias("labelled")),
            pl.DataFrame({"src": name_arr[np.asarray(ns, dtype=np.int64)],
                          "tgt": name_arr[np.asarray(nt, dtype=np.int64)],
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
            "tracks": pl.concat([df["src"], df["tgt"]]).n_unique(),
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


def read_artists(songs_path: str | Path | None) -> dict[str, str]:
    """Track id -> artist id from the song metadata table (tracks without an artist id left out)."""
    if songs_path is None or not Path(songs_path).exists():
        return {}
    t = pl.read_parquet(songs_path, columns=["track_id", "artist_id"]).drop_nulls("artist_id")
    return dict(zip(t["track_id"].to_list(), t["artist_id"].to_list()))


def build_splits(pairs_path: str | Path, lyrics_path: str | Path, features_dir: str | Path,
                 out_dir: str | Path, cfg: SplitsConfig, symmetric: bool, songs_path: str | Path | None = None) -> dict:
    """Write ``<out_dir>/<set>/{train,val,test}.parquet`` for the lyrics and multimodal sets."""
    pairs = pl.read_parquet(pairs_path, columns=["src", "tgt", "score"])
    lyr = set(pq.read_table(lyrics_path, columns=["track_id"]).column(0).to_pylist())
    aud = AudioShards(features_dir).track_ids()
    artists = read_artists(songs_path)
    if cfg.mode == "artist" and not artists:
        raise ValueError(f"splits.mode is 'artist' but {songs_path} gives no artist ids (run chunk_audio)")
    report: dict = {"stage": "build_splits", "pairs_in": pairs.height, "lyrics_tracks": len(lyr),
                    "audio_tracks": len(aud), "sets": {}}
    all_tables: dict[str, dict[str, pl.DataFrame]] = {}
    for set_name, eligible, ratios in (("lyrics", lyr, cfg.lyrics_ratios),
                                       ("multimodal", lyr & aud, cfg.multimodal_ratios)):
        tables, section = build_set(pairs, eligible, ratios, cfg, set_name, symmetric, artists)
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
