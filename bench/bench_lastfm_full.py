"""The Last.fm part at the real dataset's size (issue 18, item 3): write a synthetic Last.fm set with the
real counts (943,347 tracks, 56,506,688 similarity links) in the real zip layout, streamed, then run
``extract_pairs`` and ``build_splits`` on it and load the training data of the split set, each step in
its own process: wall time and peak RSS.

    python bench/bench_lastfm_full.py                 the real counts (writes about 1 GB of zips)
    python bench/bench_lastfm_full.py --scale 0.01    a hundredth of them (a check of the script)

The archives are written through the project's own writers (``synth.lastfm``: ``lastfm_{train,test}.zip``,
one JSON file per track under ``lastfm_<origin>/A/B/C/``, 80/20 as distributed), one track at a time.
Their content is built for size, not for learning: list lengths follow the world's calibration (17% of
the tracks without similars, lognormal lengths) rescaled so the links add up to the real total exactly;
a track's similars come mostly from its own community of 2,000 tracks (so, as in the real data, many
links are listed from both ends and ``extract_pairs`` merges them) and the rest from anywhere; scores
decrease along the list, rounded to 5 decimals. ``build_splits`` also needs the lyrics and audio track
ids: a lyrics table of 237,662 tracks (the musiXmatch count; 100 random tokens each, through the real
lyrics schema) and audio shards for every track (the MSD has them all; 128 frames of zeros per song,
through the real shard writer: zeros compress, so the folder is small, while loading them takes the real
memory), and a song table with 4 songs per artist. The training-data step loads what ``train`` loads:
the song table of the train and validation tracks and both pair files, for the lyrics set (lyrics
models) and the multimodal set (the fused model, lyrics and audio).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import run_stage  # noqa: E402
from common import OUT, run_measured, save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = {"tracks": 943_347, "links": 56_506_688, "lyrics_tracks": 237_662}
COMMUNITY = 2000  # tracks per community: most of a track's similars come from its own
LOCAL = 0.85  # share of a list drawn from the track's community
MAX_LIST = 1000  # longest list
EMPTY_SHARE = 0.17  # lists left empty: the demo world's share when this bench was recorded (published: 0.38)


def track_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct ids of the MSD form ``TR`` + 5 letters + ``128F`` + 7 hex digits, ascending."""
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    hexd = np.array(list("0123456789ABCDEF"))
    out: set[str] = set()
    while len(out) < n:
        k = int((n - len(out)) * 1.01) + 10
        a, h = rng.choice(letters, (k, 5)), rng.choice(hexd, (k, 7))
        out.update("TR" + "".join(x) + "128F" + "".join(y) for x, y in zip(a, h))
    ids = np.array(sorted(out))
    return ids if len(ids) == n else np.sort(rng.choice(ids, n, replace=False))


def list_lengths(n: int, links: int, rng: np.random.Generator) -> np.ndarray:
    """Per-track list lengths: the world's calibration (lognormal) with EMPTY_SHARE empty, rescaled to sum to
    ``links``."""
    from songsim.synth import calibration as cal

    raw = cal.LIST_LENGTH[0] * np.exp(cal.LIST_LENGTH[1] * rng.normal(size=n))
    raw[rng.random(n) < EMPTY_SHARE] = 0.0
    lengths = np.minimum(np.round(raw * links / raw.sum()), MAX_LIST).astype(np.int64)
    short = links - int(lengths.sum())  # rounding and the cap: spread the rest over lists with room
    while short:
        room = np.nonzero((lengths > 0) & (lengths < MAX_LIST))[0]
        pick = rng.choice(room, min(abs(short), len(room)), replace=False)
        lengths[pick] += np.sign(short)
        short = links - int(lengths.sum())
    return lengths


def write_lastfm(out: Path, n: int, links: int, seed: int) -> dict:
    """The two archives, one track at a time; returns counts and the ids (for the other inputs)."""
    from tqdm import tqdm

    from songsim.synth.lastfm import LastfmZipWriter, track_json

    rng = np.random.default_rng(seed)
    ids = track_ids(n, rng)
    lengths = list_lengths(n, links, rng)
    community = rng.permutation(n) // COMMUNITY  # community of each track
    members = np.argsort(community, kind="stable")
    starts = np.searchsorted(community[members], np.arange(community.max() + 2))
    is_test = rng.random(n) < 0.2
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for origin, tracks in (("train", np.nonzero(~is_test)[0]), ("test", np.nonzero(is_test)[0])):
        with LastfmZipWriter(out / f"lastfm_{origin}.zip", origin) as zw:
            for i in tqdm(tracks, desc=f"lastfm_{origin}.zip", unit="track", mininterval=5):
                k = int(lengths[i])
                c = community[i]
                mates = members[starts[c]:starts[c + 1]]
                n_local = min(int(round(LOCAL * k)), len(mates) - 1)
                local = rng.choice(mates, n_local + 1, replace=False)
                local = local[local != i][:n_local]
                far = rng.integers(0, n, 2 * (k - len(local)) + 8)
                far = far[(far != i) & (community[far] != c)]
                far = np.unique(far)[: k - len(local)]
                tgt = np.concatenate([local, far])[:k]
                score = np.round(np.sort(rng.random(len(tgt)) ** 2)[::-1], 5).clip(1e-4, 1.0)
                if len(score) and rng.random() < 0.5:
                    score[0] = 1.0
                sims = [(ids[j], float(x)) for j, x in zip(tgt, score)]
                zw.add(ids[i], track_json(ids[i], f"Artist {i // 4}", f"Song {i}", sims, [], "2011-08-15 12:00:00"))
                written += len(sims)
    return {"ids": ids, "links": written, "tracks_with_similars": int((lengths > 0).sum()),
            "test_tracks": int(is_test.sum())}


def write_song_inputs(root: Path, ids: np.ndarray, n_lyrics: int, seed: int) -> None:
    """Lyrics table (``n_lyrics`` tracks), audio shards and song table for every track, streamed."""
    import pyarrow as pa

    from songsim.core import schemas
    from songsim.core.writers import ParquetStreamWriter
    from songsim.ingest.audio_shards import AudioShardWriter

    rng = np.random.default_rng([seed, 1])
    lyr = np.sort(rng.choice(len(ids), n_lyrics, replace=False))
    with ParquetStreamWriter(root / "lyrics.parquet", schemas.LYRICS) as w:
        for s in range(0, len(lyr), 20_000):
            rows = lyr[s:s + 20_000]
            tok = rng.integers(1, 5001, (len(rows), 100)).astype(np.int16)
            bags = [np.unique(t, return_counts=True) for t in tok]
            w.write({"track_id": ids[rows].tolist(), "mxm_id": rows.astype(np.int64), "split": ["train"] * len(rows),
                     "tokens": pa.array(list(tok), pa.list_(pa.int16())), "length": np.full(len(rows), 100, np.int32),
                     "word_ids": pa.array([b[0] for b in bags], pa.list_(pa.int16())),
                     "counts": pa.array([b[1].astype(np.int32) for b in bags], pa.list_(pa.int32()))})
    frames = 128
    writer = AudioShardWriter(root / "audio", frames, True, 2000)
    zeros = np.zeros(frames * 12, np.float16)
    for t in ids:
        writer.add({"track_id": t, "timbre": zeros, "chroma": zeros, "n_segments": frames, "duration": 200.0,
                    "tempo": 120.0, "key": 0, "mode": 1, "loudness": -10.0})
    writer.close()
    with ParquetStreamWriter(root / "songs.parquet", schemas.SONGS) as w:
        for s in range(0, len(ids), 100_000):
            i = np.arange(s, min(s + 100_000, len(ids)))
            w.write({"track_id": ids[i].tolist(), "artist_id": [f"AR{k // 4:016d}" for k in i],
                     "artist": [f"Artist {k // 4}" for k in i], "title": [f"Song {k}" for k in i],
                     "year": np.full(len(i), 2000, np.int16)})


def params_for(root: Path) -> Path:
    """The repo's params with every path under ``root``, Last.fm from ``root/lastfm``, all training pairs."""
    p = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))
    p["paths"] = {k: str(root / "run" / v) for k, v in p["paths"].items()}
    p["paths"].update(lyrics=str(root / "lyrics.parquet"), audio=str(root / "audio"), songs=str(root / "songs.parquet"))
    p["raw"]["lastfm"] = str(root / "lastfm")
    p["splits"]["data_fraction"] = 1.0
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def bag_words(model: str) -> int:
    """What model ``model``'s training loads of the lyrics (``load_songs``' ``bag_words``) under params.yaml."""
    from songsim.core.config import model_section, read_params
    from songsim.models import MODELS

    spec = MODELS[model]
    return spec.bag_words(model_section(read_params(ROOT / "params.yaml"), model, spec.config).model)


LOAD = """
import json, time
from songsim.learn.data import load_pairs, load_songs, split_track_ids
d = {splits!r} + "/{set}"
t = time.perf_counter()
songs = load_songs(split_track_ids(d + "/train.parquet", d + "/val.parquet"), {lyrics!r}, {audio!r}, {bag})
tr, va = load_pairs(d + "/train.parquet", songs), load_pairs(d + "/val.parquet", songs)
table_mib = sum(a.nbytes for a in (songs.tokens, songs.lengths, songs.audio, songs.counts) if a is not None) / 2**20
print(json.dumps({{"songs": len(songs), "train_pairs": len(tr), "val_pairs": len(va),
                  "song_table_mib": round(table_mib), "pairs_mib": round((tr.nbytes + va.nbytes) / 2**20),
                  "seconds": round(time.perf_counter() - t, 1)}}))
"""


RANK = """
import os, sys, time
from songsim.learn import shared
from songsim.learn.data import load_pairs, load_songs, split_track_ids
d = {splits!r} + "/multimodal"
def load():
    songs = load_songs(split_track_ids(d + "/train.parquet", d + "/val.parquet"), {lyrics!r}, {audio!r}, {bag})
    return songs, {{"train": load_pairs(d + "/train.parquet", songs), "val": load_pairs(d + "/val.parquet", songs)}}
songs, pairs = shared.training_data(load, "bench")
n = int(songs.audio.sum(dtype="float64") * 0) + len(songs)  # touch every page, as training does over an epoch
print("READY", n, flush=True)
sys.stdin.readline()  # stay alive until measured
shared.release("bench")
"""


def pss_mib(pid: int) -> int:
    """Proportional set size: a page shared by k processes counts 1/k in each (so the sum is the real use)."""
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            return int(line.split()[1]) // 1024
    return 0


def two_local_ranks(root: Path) -> dict:
    """The multimodal training data loaded by 2 local ranks (torchrun's environment), with and without the
    shared copy (``songsim.learn.shared``): each process's PSS and their sum."""
    import os
    import subprocess

    out = {}
    code = RANK.format(splits=str(root / "run" / "data" / "splits"), lyrics=str(root / "lyrics.parquet"),
                       audio=str(root / "audio"), bag=bag_words("fused"))
    for label, world in (("each rank its own copy", "1"), ("one shared copy", "2")):
        procs = []
        for rank in ("0", "1"):
            env = {**os.environ, "LOCAL_RANK": rank, "LOCAL_WORLD_SIZE": world, "TORCHELASTIC_RUN_ID": "bench"}
            p = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
            procs.append(p)
            if world == "1":
                assert p.stdout.readline().startswith("READY")
        if world == "2":
            for p in procs:
                assert p.stdout.readline().startswith("READY")
        pss = [pss_mib(p.pid) for p in procs]
        for p in procs:
            p.communicate("\n")
        out[label] = {"pss_mib": pss, "total_mib": sum(pss)}
        print(label, out[label], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the real counts (1.0 = the real size)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", choices=("write", "extract_pairs", "build_splits", "load", "ranks"),
                    help="run only these steps, reusing what earlier runs wrote (default: all)")
    args = ap.parse_args()
    steps = set(args.only or ("write", "extract_pairs", "build_splits", "load", "ranks"))
    n, links, n_lyr = (int(round(REAL[k] * args.scale)) for k in ("tracks", "links", "lyrics_tracks"))
    root = OUT / ("lastfm_full" if args.scale == 1.0 else f"lastfm_full_{args.scale:g}")
    saved = OUT / f"{root.name}.json"
    res: dict = json.loads(saved.read_text()) if args.only and saved.exists() else {}
    res.update({"scale": args.scale, "tracks": n, "links": links, "lyrics_tracks": n_lyr})
    res.setdefault("steps", {})
    if "write" in steps:
        t = time.perf_counter()
        got = write_lastfm(root / "lastfm", n, links, args.seed)
        res["steps"]["write lastfm zips"] = {"seconds": round(time.perf_counter() - t, 1)}
        res["links_written"], res["tracks_with_similars"] = got["links"], got["tracks_with_similars"]
        res["zip_bytes"] = sum(f.stat().st_size for f in (root / "lastfm").glob("*.zip"))
        t = time.perf_counter()
        write_song_inputs(root, got["ids"], n_lyr, args.seed)
        res["steps"]["write lyrics, audio, songs"] = {"seconds": round(time.perf_counter() - t, 1)}
    params = params_for(root)
    for stage in ("extract_pairs", "build_splits"):
        if stage in steps:
            res["steps"][stage] = run_stage(stage, params)
            print(stage, res["steps"][stage], flush=True)
    reports = root / "run" / "data" / "reports"
    ep, bs = (json.loads((reports / f"{s}.json").read_text()) for s in ("extract_pairs", "build_splits"))
    res["extract_pairs"] = {k: ep.get(k) for k in ("read", "kept", "dropped", "drop_reasons", "quarantined", "seconds")}
    res["build_splits"] = {s: {k: v["splits"][k]["pairs"] for k in ("train", "val", "test")}
                           for s, v in bs["sets"].items()}
    for set_name, audio in (("lyrics", None), ("multimodal", str(root / "audio"))):
        if "load" not in steps:
            break
        code = LOAD.format(splits=str(root / "run" / "data" / "splits"), set=set_name,
                           lyrics=str(root / "lyrics.parquet"), audio=audio,
                           bag=bag_words("lyrics_regressor" if set_name == "lyrics" else "fused"))
        secs, peak, out = run_measured(code)
        row = json.loads(out.strip().splitlines()[0])
        res["steps"][f"load training data ({set_name})"] = {"seconds": round(secs, 1), "peak_rss_mib": peak, **row}
        print(set_name, res["steps"][f"load training data ({set_name})"], flush=True)
    if "ranks" in steps:
        res["two_local_ranks"] = two_local_ranks(root)
    res["disk_bytes"] = {p.name: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                         for p in (root / "lastfm", root / "audio", root / "run")}
    save(root.name, res)


if __name__ == "__main__":
    main()
