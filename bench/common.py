"""Helpers shared by the benchmark scripts: worlds of a given size, child-process peak RSS."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from songsim.synth import world as W

OUT = Path(os.environ.get("BENCH_OUT", Path(__file__).resolve().parent / "out"))


def ensure_world(name: str, n_tracks: int | None = None, seed: int = 11) -> Path:
    """Write (once) a world of preset ``name``, optionally with ``n_tracks`` overridden."""
    key = name if n_tracks is None else f"{name}_{n_tracks}"
    d = OUT / "worlds" / key
    if (d / "world.json").exists():
        return d
    if n_tracks is not None:
        W.SIZES[key] = dataclasses.replace(W.SIZES[name], n_tracks=n_tracks)
    t = time.perf_counter()
    W.write_world(d, key, seed, lastfm_sqlite=False, mxm_sqlite=False)
    print(f"world {key}: written in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    return d


def run_measured(code: str) -> tuple[float, int, str]:
    """Run python ``code`` in a child; return (seconds, peak RSS in MiB, stdout)."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise RuntimeError(f"child failed ({status}): {code}")
    return time.perf_counter() - t, usage.ru_maxrss // 1024, out


def save(name: str, result: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
