"""Helpers shared by the benchmark scripts: worlds of a given size, child-process peak RSS."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(os.environ.get("BENCH_OUT", Path(__file__).resolve().parent / "out"))


def coverage_of(name: str):
    """The coverage a bench writes preset ``name`` with: the one each bench recorded in README was measured
    on (the demo's DENSE for tiny and default; for large, the memory rehearsal's, audio for 17% of the
    tracks), and the published figures for medium."""
    from songsim.core.config import CoverageConfig
    from songsim.core.published import DENSE, PUBLISHED

    rehearsal = CoverageConfig(lastfm=0.85, lists=0.83, lyrics=0.85, audio=0.17, mxm_test=0.11)
    return {"large": rehearsal, "medium": PUBLISHED}.get(name, DENSE)


def ensure_world(name: str, n_tracks: int | None = None, seed: int = 11) -> Path:
    """Write (once) a world of preset ``name`` with its bench coverage (:func:`coverage_of`), optionally
    with ``n_tracks`` overridden."""
    key = name if n_tracks is None else f"{name}_{n_tracks}"
    d = OUT / "worlds" / key
    if (d / "world.json").exists():
        return d
    from songsim.synth.world import SIZES  # here, not at the top: benches without worlds import only torch
    from songsim.synth.write import write_world

    size = name if n_tracks is None else dataclasses.replace(SIZES[name], n_tracks=n_tracks)
    t = time.perf_counter()
    write_world(d, size, seed, lastfm_sqlite=False, mxm_sqlite=False, coverage=coverage_of(name))
    print(f"world {key}: written in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    return d


PEAK = ("\nimport re as _re\nprint('VmHWM', max(int(_re.search(r'VmHWM:\\s+(\\d+)', open(f'/proc/{p}/status').read())"
        ".group(1)) for p in ['self']))")


def run_measured(code: str) -> tuple[float, int, str]:
    """Run python ``code`` in a child; return (seconds, the child's own peak RSS in MiB, stdout).

    The child reports VmHWM itself: ``ru_maxrss`` from wait4 would carry over the parent's peak,
    since Linux keeps it across fork + execve. Worker processes the child starts are not included.
    """
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code + PEAK], stdout=subprocess.PIPE, text=True, check=True).stdout
    peak_kib = int(out.strip().splitlines()[-1].split()[1])
    return time.perf_counter() - t, peak_kib // 1024, out


def save(name: str, result: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
