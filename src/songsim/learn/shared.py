"""One copy of the training data per machine under torchrun.

Every rank of a data-parallel run needs the whole song table and every pair (each trains on its stride
of every global batch). Loaded by each rank, they would be held once per process: 8 ranks of the fused
model at the real size, 8 x 1.15 GB of song table. Instead the machine's local rank 0 loads them and
writes each array as a ``.npy`` file into a shared folder (``/dev/shm``, memory-backed, where it exists;
``SONGSIM_SHARED_DIR`` overrides), and every local rank, rank 0 included, memory-maps those files: the
operating system keeps one copy of their pages for all the ranks of the machine. The folder is named
after torchrun's run id, its agent process (the local ranks' parent) and the model, written atomically
(renamed into place, a marker file inside) and removed by local rank 0 when training ends.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from songsim.learn.data import PairData, SongTable

log = logging.getLogger(__name__)

DONE = "done.json"
PAIR_FIELDS = ("src", "tgt", "score", "label", "labelled")
SONG_FIELDS = ("tokens", "lengths", "audio", "counts", "has_lyrics", "has_audio")  # SongTable order


def local_ranks() -> tuple[int, int]:
    """(local rank, processes on this machine) from torchrun's environment; (0, 1) without torchrun."""
    return int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("LOCAL_WORLD_SIZE", 1))


def shared_dir(name: str) -> Path:
    base = os.environ.get("SONGSIM_SHARED_DIR") or ("/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir())
    # the local ranks of one launch are children of one torchrun agent: its pid keeps runs apart
    run = os.environ.get("TORCHELASTIC_RUN_ID", "run")
    return Path(base) / f"songsim-{run}-{os.getppid()}-{name}"


def _write(d: Path, songs: SongTable, pairs: dict[str, PairData]) -> None:
    tmp = d.with_name(d.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    meta: dict = {"track_ids": songs.track_ids, "songs": [], "pairs": list(pairs)}
    for f in SONG_FIELDS:
        a = getattr(songs, f)
        if a is not None:
            np.save(tmp / f"songs_{f}.npy", a)
            meta["songs"].append(f)
    for name, p in pairs.items():
        for f in PAIR_FIELDS:
            np.save(tmp / f"{name}_{f}.npy", getattr(p, f))
    (tmp / DONE).write_text(json.dumps(meta))
    shutil.rmtree(d, ignore_errors=True)
    os.replace(tmp, d)


def _map(d: Path) -> tuple[SongTable, dict[str, PairData]]:
    meta = json.loads((d / DONE).read_text())
    # copy-on-write maps: writable for torch.from_numpy, and no page is ever copied since nothing writes
    arr = {f: np.load(d / f"songs_{f}.npy", mmap_mode="c") for f in meta["songs"]}
    songs = SongTable(meta["track_ids"], *(arr.get(f) for f in SONG_FIELDS))
    pairs = {n: PairData(*(np.load(d / f"{n}_{f}.npy", mmap_mode="c") for f in PAIR_FIELDS)) for n in meta["pairs"]}
    return songs, pairs


def training_data(load: Callable[[], tuple[SongTable, dict[str, PairData]]], name: str,
                  timeout: float = 3600.0) -> tuple[SongTable, dict[str, PairData]]:
    """``load()``'s song table and pair sets, held once per machine when several local ranks train (see the
    module doc); just ``load()`` otherwise. Local rank 0 loads and writes; the others wait for it (at most
    ``timeout`` seconds)."""
    local_rank, local_world = local_ranks()
    if local_world <= 1:
        return load()
    d = shared_dir(name)
    if local_rank == 0:
        t = time.perf_counter()
        songs, pairs = load()
        _write(d, songs, pairs)
        del songs, pairs
        log.info("training data of %s shared by %d local ranks through %s (%.1f s)", name, local_world, d,
                 time.perf_counter() - t)
    else:
        deadline = time.monotonic() + timeout
        while not (d / DONE).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"local rank {local_rank}: no shared training data at {d} after {timeout:.0f} s "
                                   f"(local rank 0 failed? its log says why)")
            time.sleep(0.2)
    return _map(d)


def release(name: str) -> None:
    """Local rank 0 removes the shared folder once training is over (mapped files stay readable)."""
    local_rank, local_world = local_ranks()
    if local_world > 1 and local_rank == 0:
        shutil.rmtree(shared_dir(name), ignore_errors=True)
