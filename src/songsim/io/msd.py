"""Million Song Dataset per-track HDF5 files (``A/B/C/TR....h5``), read with h5py.

A file may hold several songs (aggregate files): song *i* owns rows ``idx_<array>[i]`` up to
``idx_<array>[i+1]`` of each analysis array. Files that are valid HDF5 but not MSD files (no
``analysis``/``metadata`` groups) are rejected with reason ``not_msd``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from songsim.io import TRACK_ID, BadRecord

REQUIRED = ("analysis/songs", "analysis/segments_timbre", "analysis/segments_pitches",
            "analysis/segments_start", "metadata/songs")


@dataclass(frozen=True)
class MsdSong:
    track_id: str
    timbre: np.ndarray  # (N, 12) float32
    chroma: np.ndarray  # (N, 12) float32, segments_pitches, each row's max is 1
    segments_start: np.ndarray  # (N,) float64
    duration: float
    tempo: float
    key: int
    mode: int
    loudness: float
    time_signature: int
    artist_name: str
    title: str
    song_id: str
    where: str


def _text(b: bytes) -> str:
    return bytes(b).rstrip(b"\0").decode("utf-8", errors="replace")


def _rows(idx: np.ndarray, i: int, total: int) -> slice:
    start = int(idx[i])
    stop = int(idx[i + 1]) if i + 1 < len(idx) else total
    return slice(start, stop)


def read_msd_file(path: str | Path) -> list[MsdSong | BadRecord]:
    """All songs of one MSD file, or a single :class:`BadRecord` naming why it is unusable."""
    path = Path(path)
    where = str(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:  # truncated, not HDF5 at all, unreadable
        return [BadRecord("corrupt_hdf5", where, str(e).split("(")[0].strip())]
    try:
        with f:
            missing = [k for k in REQUIRED if k not in f]
            if missing:
                return [BadRecord("not_msd", where, f"missing {', '.join(missing)}")]
            a = f["analysis/songs"][:]
            m = f["metadata/songs"][:]
            timbre_all = f["analysis/segments_timbre"][:]
            pitch_all = f["analysis/segments_pitches"][:]
            start_all = f["analysis/segments_start"][:]
            out: list[MsdSong | BadRecord] = []
            n_songs = len(a)
            if n_songs == 0 or len(m) != n_songs:
                return [BadRecord("not_msd", where, f"{n_songs} analysis rows, {len(m)} metadata rows")]
            for i in range(n_songs):
                tid = _text(a["track_id"][i])
                w = f"{where}[song {i}]" if n_songs > 1 else where
                if not TRACK_ID.match(tid):
                    out.append(BadRecord("bad_track_id", w, repr(tid)))
                    continue
                if n_songs == 1 and path.stem.startswith("TR") and path.stem != tid:
                    out.append(BadRecord("track_id_mismatch", w, f"file is {path.stem}, song is {tid}"))
                    continue
                t = timbre_all[_rows(a["idx_segments_timbre"], i, len(timbre_all))]
                p = pitch_all[_rows(a["idx_segments_pitches"], i, len(pitch_all))]
                s = start_all[_rows(a["idx_segments_start"], i, len(start_all))]
                if t.ndim != 2 or t.shape[1:] != (12,) or p.ndim != 2 or p.shape[1:] != (12,):
                    out.append(BadRecord("bad_shape", w, f"timbre {t.shape}, pitches {p.shape}"))
                    continue
                if len(t) == 0:
                    out.append(BadRecord("empty_segments", w))
                    continue
                if not (len(t) == len(p) == len(s)):
                    out.append(BadRecord("length_mismatch", w, f"{len(t)}/{len(p)}/{len(s)} segments"))
                    continue
                if not (np.isfinite(t).all() and np.isfinite(p).all()):
                    out.append(BadRecord("nonfinite_features", w, "NaN or inf in timbre/pitches"))
                    continue
                out.append(
                    MsdSong(
                        track_id=tid,
                        timbre=t.astype(np.float32),
                        chroma=p.astype(np.float32),
                        segments_start=s,
                        duration=float(a["duration"][i]),
                        tempo=float(a["tempo"][i]),
                        key=int(a["key"][i]),
                        mode=int(a["mode"][i]),
                        loudness=float(a["loudness"][i]),
                        time_signature=int(a["time_signature"][i]),
                        artist_name=_text(m["artist_name"][i]),
                        title=_text(m["title"][i]),
                        song_id=_text(m["song_id"][i]),
                        where=w,
                    )
                )
            return out
    except (OSError, KeyError, ValueError) as e:  # corrupt chunks, broken compound tables
        return [BadRecord("corrupt_hdf5", where, str(e))]


def iter_msd_files(root: str | Path) -> Iterator[Path]:
    """The ``.h5`` files below ``root`` (or ``root`` itself), in sorted order."""
    root = Path(root)
    if root.is_file():
        yield root
        return
    yield from sorted(root.rglob("*.h5"))
