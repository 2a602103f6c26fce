"""The audio model's training step with artist mates against without, in one process.

Both variants run `songsim.learn.loop.train_steps` on the same planned batches of the audio set's training
pairs, from the same initial weights, as `train` runs it (resident song table, deterministic algorithms on
CPU, the listwise loss on): ``plain`` with the defaults (``artist_weight`` 0); ``mates`` with
``artist_weight`` 1.0, its steps extended by `songsim.learn.artists.add_mates` (up to ``artist_songs``
anchors, each adding its mate to the step's songs). Interleaved, the order rotated, best of ``--repeats``.

Runs on the pipeline outputs of `dvc repro` (paths from params.yaml): the demo's world by default, or any
world whose splits and features are built (e.g. a real-shaped medium world).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from songsim.core.config import load_params, model_section, section  # noqa: E402
from songsim.learn.artists import ArtistSampler, add_mates, training_artists  # noqa: E402
from songsim.learn.batches import SongStore, plan_epoch  # noqa: E402
from songsim.learn.data import load_pairs, load_songs, split_track_ids  # noqa: E402
from songsim.learn.loop import prepare, train_steps  # noqa: E402
from songsim.models import MODELS, model_configs  # noqa: E402
from songsim.models.nets import build_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--steps", type=int, default=15, help="timed optimiser steps per variant")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    params = load_params(args.params, model_configs())
    paths = section(params, "paths")
    torch.use_deterministic_algorithms(True, warn_only=True)  # as train does on CPU
    spec = MODELS["audio_siamese"]
    sec = model_section(params, "audio_siamese", spec.config)
    tr_path, va_path = paths.split(spec.split_set, "train"), paths.split(spec.split_set, "val")
    songs = load_songs(split_track_ids(tr_path, va_path), None, paths.audio)
    pairs = load_pairs(tr_path, songs)
    rows = np.unique(np.concatenate([pairs.src, pairs.tgt]))
    mates = ArtistSampler.build(training_artists(paths.songs, songs, pairs), rows, sec.model.artist_songs)
    store = SongStore(songs, torch.device("cpu"))
    y = torch.from_numpy(pairs.score)
    batch = sec.optim.batch_size

    def plan(extend):
        return list(plan_epoch(pairs, batch, True, np.random.default_rng(0), extend=extend))[:args.steps]

    variants = {"plain": (0.0, plan(None)),
                "mates": (1.0, plan(partial(add_mates, sampler=mates, dedup=True)))}
    best = {k: float("inf") for k in variants}
    for rep in range(args.repeats):
        order = list(variants)[rep % 2:] + list(variants)[:rep % 2]
        for name in order:
            weight, steps = variants[name]
            torch.manual_seed(0)
            model = build_model("audio_siamese", dataclasses.replace(sec.model, artist_weight=weight), 0)
            opt = torch.optim.Adam(model.parameters(), sec.optim.lr)
            t = time.perf_counter()
            train_steps(model, opt, prepare(store, steps), y, "l1", False, rank_weight=1.0, artist_weight=weight)
            best[name] = min(best[name], time.perf_counter() - t)
    songs_per_step = {k: float(np.mean([len(s.songs) for s in v[1]])) for k, v in variants.items()}
    out = {"world_songs": len(songs), "train_pairs": len(pairs), "batch": batch, "steps": len(variants["plain"][1]),
           "threads": torch.get_num_threads(), "seconds": best, "songs_per_step": songs_per_step,
           "mates_over_plain": round(best["mates"] / best["plain"], 3)}
    save(f"artist{args.tag}", out)


if __name__ == "__main__":
    main()
