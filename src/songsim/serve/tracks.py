"""The track ids of an index folder and their metadata, held in Arrow arrays: row <-> track id, the
artist and title of a row, the known ids spelled most like an unknown one.

No Python object per song: loading a rebuilt index of a million songs is then Arrow work (which lets
go of the GIL; no polars, whose import alone would cost ``songsim similar`` a good part of its start),
so a service that loads it in a thread keeps answering meanwhile, and a look-up is a binary search
over the sorted ids (about 20 probes at 1M songs).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

META = ("artist_id", "artist", "title")


class TrackTable:
    """Row ``i`` of an index is track ``table[i]``; ``row(track_id)`` goes back; ``meta`` gives the song
    metadata (artist id, artist, title) of a track, ``(None, None, None)`` columns when unknown."""

    def __init__(self, ids: pa.Array | pa.ChunkedArray, songs_path: str | Path | None = None):
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        self._ids = ids.cast(pa.string())
        self._order = pc.sort_indices(self._ids).to_numpy()  # row of the i-th id in sorted order
        self._sorted = self._ids.take(pa.array(self._order))
        n = len(self._ids)
        self._meta: dict[str, pa.Array] = {c: pa.nulls(n, pa.string()) for c in META}
        if songs_path is not None and Path(songs_path).exists():
            songs = pq.read_table(songs_path, columns=["track_id", *META])
            at = pc.index_in(self._ids, value_set=songs.column("track_id"))  # a song's first row; null: unknown
            self._meta = {c: songs.column(c).combine_chunks().cast(pa.string()).take(at) for c in META}
        self.meta = _MetaView(self)

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._ids[i].to_pylist()
        return self._ids[int(i)].as_py()

    def __iter__(self) -> Iterator[str]:
        for s in range(0, len(self._ids), 65536):
            yield from self._ids.slice(s, 65536).to_pylist()

    def __contains__(self, track_id: object) -> bool:
        return isinstance(track_id, str) and self.row(track_id) is not None

    def _bisect(self, track_id: str) -> int:
        lo, hi = 0, len(self._sorted)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._sorted[mid].as_py() < track_id:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def row(self, track_id: str) -> int | None:
        """The index row of ``track_id``, or None."""
        at = self._bisect(track_id)
        if at < len(self._sorted) and self._sorted[at].as_py() == track_id:
            return int(self._order[at])
        return None

    def take(self, rows: np.ndarray) -> tuple[list, list, list, list]:
        """Track ids, artist ids, artists and titles of ``rows`` (element by element: for the few rows of an
        answer that is several times faster than an Arrow take per column)."""
        rows = [int(r) for r in rows]
        return tuple([col[r].as_py() for r in rows] for col in (self._ids, *(self._meta[c] for c in META)))

    def meta_of(self, row: int) -> tuple[str | None, str | None, str | None]:
        return tuple(self._meta[c][int(row)].as_py() for c in META)  # type: ignore[return-value]

    def closest(self, track_id: str, n: int = 3, window: int = 64) -> list[str]:
        """Known ids spelled most like ``track_id``, among the ``window`` ids on either side of it in sorted
        order (bounded work at any catalog size; a typo past the first characters keeps its neighbours)."""
        at = self._bisect(track_id)
        near = self._sorted.slice(max(0, at - window), 2 * window).to_pylist()
        return difflib.get_close_matches(track_id, near, n=n, cutoff=0.5)


class _MetaView:
    """``meta[track_id]`` / ``meta.get(track_id, default)``: (artist id, artist, title) of an indexed song."""

    def __init__(self, table: TrackTable):
        self._t = table

    def get(self, track_id: str, default=None):
        r = self._t.row(track_id)
        return default if r is None else self._t.meta_of(r)

    def __getitem__(self, track_id: str):
        r = self._t.row(track_id)
        if r is None:
            raise KeyError(track_id)
        return self._t.meta_of(r)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._t
