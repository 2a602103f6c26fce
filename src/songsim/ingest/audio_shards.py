"""The audio shard format: ``part-NNNNN.parquet`` files of fixed-size timbre/chroma per song, plus
``manifest.json``. The writer and the reader live together: chunk_audio writes through
:class:`AudioShardWriter`; splits, training, evaluation and benchmarks read through :class:`AudioShards`.

Shard rows follow ``schemas.audio_schema``: ``timbre`` and ``chroma`` are ``frames x 12`` row-major
fixed-size lists. ``frames`` is stored once per shard (schema metadata) and in the manifest, and read back
from there, never recomputed from buffer sizes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from songsim.core import schemas
from songsim.core.schemas import N_FEAT
from songsim.core.writers import ShardWriter

SHARD_GLOB = "part-*.parquet"
MANIFEST = "manifest.json"


class AudioShardWriter(ShardWriter):
    """Shards of the audio schema for ``frames`` frames; the manifest records ``frames`` and the dtype."""

    def __init__(self, out_dir: str | Path, frames: int, float16: bool, rows_per_shard: int):
        super().__init__(out_dir, schemas.audio_schema(frames, float16), rows_per_shard)
        self.frames = frames
        self.float16 = float16

    def close(self) -> dict:
        return self.write_manifest({"frames": self.frames, "dtype": "float16" if self.float16 else "float32"})


class AudioShards:
    """Read access to one shard folder: the shard scan, the frame count, track ids, per-song arrays."""

    def __init__(self, features_dir: str | Path):
        self.dir = Path(features_dir)
        self.files = sorted(self.dir.glob(SHARD_GLOB))
        if not self.files:
            raise FileNotFoundError(f"{self.dir}: no {SHARD_GLOB} shards (run chunk_audio first)")
        manifest = self.dir / MANIFEST
        self.manifest = json.loads(manifest.read_text()) if manifest.exists() else None

    @property
    def frames(self) -> int:
        """Frames per song, from the manifest or else the first shard's schema metadata."""
        if self.manifest and "frames" in self.manifest:
            return int(self.manifest["frames"])
        meta = pq.read_schema(self.files[0]).metadata or {}
        if b"frames" not in meta:
            raise ValueError(f"{self.files[0]}: no 'frames' in the schema metadata and no {MANIFEST}")
        return int(meta[b"frames"])

    def track_ids(self) -> set[str]:
        """Every track id in the shards (reads the id column only)."""
        ids: set[str] = set()
        for f in self.files:
            ids.update(pq.read_table(f, columns=["track_id"]).column(0).to_pylist())
        return ids

    def read(self, track_ids: Iterable[str] | None = None, columns: list[str] | None = None) -> pa.Table:
        """The shard rows (optionally only ``track_ids``, filtered at read time) as one Arrow table."""
        filt = None
        if track_ids is not None:
            filt = pc.field("track_id").isin(pa.array(sorted(set(track_ids)), pa.string()))
        return pa.concat_tables([pq.read_table(f, columns=columns, filters=filt) for f in self.files])

    def iter_shards(self) -> Iterator[tuple[list[str], np.ndarray]]:
        """``(track_ids, (S, 24, frames) arrays)`` one shard at a time: memory bounded by a shard."""
        for f in self.files:
            t = pq.read_table(f, columns=["track_id", "timbre", "chroma"])
            yield t.column("track_id").to_pylist(), self._arrays(t, np.arange(len(t)))

    def audio(self, track_ids: list[str]) -> np.ndarray:
        """``(len(track_ids), 24, frames)`` arrays in the order of ``track_ids``: 12 timbre then 12 chroma
        channels, in the stored dtype. A ``KeyError`` names a track without audio. Filled shard by shard
        into the one output array (a shard none of the tracks is in is not decompressed), so memory is the
        answer plus one shard."""
        out, found = self._fill(track_ids)
        if not found.all():
            missing = [t for t, ok in zip(track_ids, found) if not ok]
            raise KeyError(f"{len(missing)} tracks have no audio in {self.dir}, e.g. {missing[0]}")
        return out

    def audio_or_zeros(self, track_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`audio`, but a track without audio gets all-zero frames: ``(arrays, found (S,) bool)``."""
        return self._fill(track_ids)

    def _fill(self, track_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        unique = list(dict.fromkeys(track_ids))
        pos = {t: i for i, t in enumerate(unique)}
        out: np.ndarray | None = None
        found = np.zeros(len(unique), dtype=bool)
        for f in self.files:
            ids = pq.read_table(f, columns=["track_id"]).column(0).to_pylist()
            hits = [(j, pos[t]) for j, t in enumerate(ids) if t in pos]
            if not hits:
                continue
            src, dst = (np.array(x, dtype=np.int64) for x in zip(*hits))
            arr = self._arrays(pq.read_table(f, columns=["timbre", "chroma"]), src)  # (m, 24, T)
            if out is None:
                out = np.zeros((len(unique), *arr.shape[1:]), dtype=arr.dtype)
            out[dst] = arr
            found[dst] = True
        if out is None:  # no track asked for, or none has audio
            out = np.zeros((len(unique), 2 * N_FEAT, self.frames), dtype=np.float16)
        if len(unique) != len(track_ids):
            back = [pos[t] for t in track_ids]
            return out[back], found[back]
        return out, found

    def _arrays(self, t: pa.Table, idx: np.ndarray) -> np.ndarray:
        frames, n = self.frames, len(t)
        parts = []
        for col in ("timbre", "chroma"):
            flat = t.column(col).combine_chunks().values.to_numpy(zero_copy_only=False)
            parts.append(flat.reshape(n, frames, N_FEAT)[idx])  # (S, T, 12)
        return np.ascontiguousarray(np.concatenate(parts, axis=2).transpose(0, 2, 1))  # (S, 24, T)


def read_artists(songs_path: str | Path, track_ids: Iterable[str] | None = None) -> dict[str, str]:
    """Track id -> artist id from chunk_audio's other output, the song metadata table (``schemas.SONGS``,
    written beside the shards), tracks without an artist id left out. With ``track_ids``, only those
    tracks' rows are read (filtered at read time), so memory follows the tracks asked for, not the catalog.
    Artist-level splits and the audio model's artist mates read it."""
    filters = None if track_ids is None else pc.field("track_id").isin(pa.array(list(track_ids), pa.string()))
    t = pq.read_table(songs_path, columns=["track_id", "artist_id"], filters=filters)
    return {k: v for k, v in zip(t.column("track_id").to_pylist(), t.column("artist_id").to_pylist()) if v}
