"""Million Song Dataset per-track HDF5 files (``A/B/C/TR....h5``), read with h5py.

A file may hold several songs (aggregate files): song *i* owns rows ``idx_<array>[i]`` up to
``idx_<array>[i+1]`` of each analysis array. Files that are valid HDF5 but not MSD files (no
``analysis``/``metadata`` groups) are rejected with reason ``not_msd``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from songsim.ingest.readers import BadRecord, is_track_id

# The analysis/songs fields we use. Reading through this cached memory type lets HDF5 convert the
# stored compound by field name, and skips building the full 31-field dtype in Python for every file.
SONG_FIELDS = np.dtype([("idx_segments_pitches", "<i4"), ("idx_segments_start", "<i4"),
                        ("idx_segments_timbre", "<i4"), ("duration", "<f8"), ("tempo", "<f8"), ("key", "<i4"),
                        ("mode", "<i4"), ("loudness", "<f8"), ("time_signature", "<i4"), ("track_id", "S32")])
_SONG_MTYPE = h5py.h5t.py_create(SONG_FIELDS)
META_FIELDS = np.dtype([("artist_id", "S32"), ("artist_name", "S1024"), ("title", "S1024"), ("song_id", "S32")])
_META_MTYPE = h5py.h5t.py_create(META_FIELDS)
YEAR_FIELDS = np.dtype([("year", "<i4")])
_YEAR_MTYPE = h5py.h5t.py_create(YEAR_FIELDS)

REQUIRED = ("analysis/songs", "analysis/segments_timbre", "analysis/segments_pitches",
            "analysis/segments_start", "metadata/songs")
OPTIONAL = ("musicbrainz/songs",)
MAX_CHUNK_BYTES = 64 << 20  # a read of T rows must not inflate a larger HDF5 chunk than this


_LINKS = tuple(dict.fromkeys(p for name in REQUIRED + OPTIONAL
                             for p in ("/".join(name.split("/")[:k]) for k in (1, 2))))  # groups first


def unsafe_links(f: h5py.File) -> str | None:
    """Why the file must not be opened further, or None: a group or dataset we read that is a link
    leaving the file (external link) or pointing elsewhere in it (soft link). Checked with the low-level
    link API, before any object is opened through a link."""
    links = f.id.links
    for name in _LINKS:
        try:
            kind = links.get_info(name.encode()).type
        except (KeyError, RuntimeError):  # absent (an absent group hides its datasets): not_msd decides
            continue
        if kind != h5py.h5l.TYPE_HARD:
            return f"{name}: {'external' if kind == h5py.h5l.TYPE_EXTERNAL else 'soft'} link"
    return None


def unsafe_storage(*datasets: h5py.Dataset) -> str | None:
    """Why a dataset's data would come from outside the file, or None: external raw storage (e.g. a
    system file) or a virtual layout assembled from other files."""
    for ds in datasets:
        plist = ds.id.get_create_plist()
        if plist.get_external_count() > 0:
            return f"{ds.name}: external raw storage"
        if plist.get_layout() == h5py.h5d.VIRTUAL:
            return f"{ds.name}: virtual dataset"
    return None


def oversized_chunks(*datasets: h5py.Dataset) -> str | None:
    """Why reading a few rows would inflate too much (one compressed chunk over the limit), or None."""
    for ds in datasets:
        if ds.chunks is not None:
            size = int(np.prod(ds.chunks)) * ds.dtype.itemsize
            if size > MAX_CHUNK_BYTES:
                return f"{ds.name}: chunk of {size} bytes (> {MAX_CHUNK_BYTES})"
    return None


@dataclass(frozen=True)
class MsdSong:
    track_id: str
    timbre: np.ndarray  # (N, 12) float32
    chroma: np.ndarray  # (N, 12) float32, segments_pitches, each row's max is 1
    segments_start: np.ndarray  # (N,) float64
    n_segments: int  # segments of the whole song (arrays above may hold a window of them)
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
    artist_id: str = ""
    year: int = 0  # musicbrainz/songs.year; 0 = unknown (as in the MSD)


def _text(b: bytes) -> str:
    return bytes(b).rstrip(b"\0").decode("utf-8", errors="replace")


def _rows(idx: np.ndarray, i: int, total: int) -> slice:
    start = int(idx[i])
    stop = int(idx[i + 1]) if i + 1 < len(idx) else total
    return slice(start, stop)


Window = Callable[[int], slice]


def _read_compound(ds, fields: np.dtype, mtype) -> np.ndarray:
    """The named fields of a compound table, converted by name by HDF5 (a missing field reads as 0 / b"")."""
    out = np.zeros(ds.shape, dtype=fields)
    if out.size:
        ds.id.read(h5py.h5s.ALL, h5py.h5s.ALL, out, mtype=mtype)
    return out


def read_msd_file(path: str | Path, window: Window | None = None, details: bool = True,
                  meta: bool | None = None) -> list[MsdSong | BadRecord]:
    """All songs of one MSD file, or a single :class:`BadRecord` naming why it is unusable.

    ``window(n)`` picks which of a song's ``n`` segments to read (e.g. a centre crop): only the HDF5
    chunks holding those rows are decompressed. Feature checks (finite values) apply to the rows read.
    With ``details=False`` ``segments_start`` is not read (length 0); ``meta`` (default: ``details``)
    reads the song's metadata (artist id and name, title, song id, and ``musicbrainz/songs.year`` when
    present), else those are empty.
    """
    meta = details if meta is None else meta
    path = Path(path)
    where = str(path)
    try:
        return _read(path, where, window, details, meta)
    except Exception as e:  # noqa: BLE001 - one bad file must not end the stage
        return [BadRecord("unexpected_error", where, f"{type(e).__name__}: {e}"[:300])]


def _scalar_problem(a: np.void) -> str | None:
    """Why a song's analysis scalars are implausible, or None (they are stored in narrow types)."""
    if not -1 <= int(a["key"]) <= 11:  # pitch class of the key (-1: none)
        return f"key {int(a['key'])}"
    if int(a["mode"]) not in (-1, 0, 1):
        return f"mode {int(a['mode'])}"
    if not -1 <= int(a["time_signature"]) <= 64:
        return f"time_signature {int(a['time_signature'])}"
    for name, lo, hi in (("duration", 0.0, 86400.0), ("tempo", 0.0, 1000.0), ("loudness", -200.0, 60.0)):
        v = float(a[name])
        if not (np.isfinite(v) and lo <= v <= hi):
            return f"{name} {v}"
    return None


def _read(path: Path, where: str, window: Window | None, details: bool, meta: bool) -> list[MsdSong | BadRecord]:
    try:
        f = h5py.File(path, "r")
    except OSError as e:  # truncated, not HDF5 at all, unreadable
        return [BadRecord("corrupt_hdf5", where, str(e).split("(")[0].strip())]
    try:
        with f:
            why = unsafe_links(f)  # before any object is opened through a link
            if why:
                return [BadRecord("unsafe_hdf5", where, why)]
            try:
                an, md = f["analysis"], f["metadata"]
                a_ds, m_ds = an["songs"], md["songs"]
                timbre_ds, pitch_ds, start_ds = an["segments_timbre"], an["segments_pitches"], an["segments_start"]
            except KeyError:
                missing = [k for k in REQUIRED if f.get(k) is None]
                return [BadRecord("not_msd", where, f"missing {', '.join(missing)}")]
            mb_ds = f.get("musicbrainz/songs") if meta else None
            why = unsafe_storage(a_ds, m_ds, timbre_ds, pitch_ds, start_ds, *([mb_ds] if mb_ds is not None else []))
            if why:  # before any data is read
                return [BadRecord("unsafe_hdf5", where, why)]
            why = oversized_chunks(timbre_ds, pitch_ds, start_ds)
            if why:
                return [BadRecord("oversized_chunks", where, why)]
            a = _read_compound(a_ds, SONG_FIELDS, _SONG_MTYPE)
            m = _read_compound(m_ds, META_FIELDS, _META_MTYPE) if meta else None
            years = _read_compound(mb_ds, YEAR_FIELDS, _YEAR_MTYPE)["year"] if mb_ds is not None else None
            out: list[MsdSong | BadRecord] = []
            n_songs = len(a)
            n_meta = len(m) if m is not None else m_ds.shape[0]
            if n_songs == 0 or n_meta != n_songs:
                return [BadRecord("not_msd", where, f"{n_songs} analysis rows, {n_meta} metadata rows")]
            if timbre_ds.ndim != 2 or timbre_ds.shape[1:] != (12,) or pitch_ds.ndim != 2 or pitch_ds.shape[1:] != (12,):
                return [BadRecord("bad_shape", where, f"timbre {timbre_ds.shape}, pitches {pitch_ds.shape}")]
            for i in range(n_songs):
                tid = _text(a["track_id"][i])
                w = f"{where}[song {i}]" if n_songs > 1 else where
                if not is_track_id(tid):
                    out.append(BadRecord("bad_track_id", w, repr(tid)))
                    continue
                if n_songs == 1 and path.stem.startswith("TR") and path.stem != tid:
                    out.append(BadRecord("track_id_mismatch", w, f"file is {path.stem}, song is {tid}"))
                    continue
                rt = _rows(a["idx_segments_timbre"], i, timbre_ds.shape[0])
                rp = _rows(a["idx_segments_pitches"], i, pitch_ds.shape[0])
                rs = _rows(a["idx_segments_start"], i, start_ds.shape[0])
                n = rt.stop - rt.start
                if not (n == rp.stop - rp.start == rs.stop - rs.start):
                    out.append(BadRecord("length_mismatch", w,
                                         f"{n}/{rp.stop - rp.start}/{rs.stop - rs.start} segments"))
                    continue
                if n <= 0:
                    out.append(BadRecord("empty_segments", w))
                    continue
                why = _scalar_problem(a[i])
                if why:
                    out.append(BadRecord("bad_value", w, why))
                    continue
                sub = window(n) if window is not None else slice(0, n)
                t = timbre_ds[rt.start + sub.start:rt.start + sub.stop]
                p = pitch_ds[rp.start + sub.start:rp.start + sub.stop]
                if not (np.isfinite(t).all() and np.isfinite(p).all()):
                    out.append(BadRecord("nonfinite_features", w, "NaN or inf in timbre/pitches"))
                    continue
                out.append(
                    MsdSong(
                        track_id=tid,
                        timbre=t.astype(np.float32),
                        chroma=p.astype(np.float32),
                        segments_start=(start_ds[rs.start + sub.start:rs.start + sub.stop] if details
                                        else np.zeros(0)),
                        n_segments=n,
                        duration=float(a["duration"][i]),
                        tempo=float(a["tempo"][i]),
                        key=int(a["key"][i]),
                        mode=int(a["mode"][i]),
                        loudness=float(a["loudness"][i]),
                        time_signature=int(a["time_signature"][i]),
                        artist_name=_text(m["artist_name"][i]) if m is not None else "",
                        title=_text(m["title"][i]) if m is not None else "",
                        song_id=_text(m["song_id"][i]) if m is not None else "",
                        where=w,
                        artist_id=_text(m["artist_id"][i]) if m is not None else "",
                        year=int(years[i]) if years is not None and i < len(years) else 0,
                    )
                )
            return out
    except (OSError, KeyError, ValueError, TypeError) as e:  # corrupt chunks, broken compound tables
        return [BadRecord("corrupt_hdf5", where, str(e))]


def iter_msd_files(root: str | Path) -> Iterator[Path]:
    """The ``.h5`` files below ``root`` (or ``root`` itself), in sorted order."""
    root = Path(root)
    if root.is_file():
        yield root
        return
    yield from sorted(root.rglob("*.h5"))
