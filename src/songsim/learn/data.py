"""Datasets for training: a song table (tokens and/or audio per distinct song) and the pairs as row
indices into it. Batches are planned and gathered by ``songsim.learn.batches``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from songsim.ingest.audio_shards import AudioShards


@dataclass
class SongTable:
    """Per-song inputs, row ``i`` for ``track_ids[i]``."""

    track_ids: list[str]
    tokens: np.ndarray | None  # (S, L) int16, 0-padded
    lengths: np.ndarray | None  # (S,) int32
    audio: np.ndarray | None  # (S, 24, T) float16/32: 12 timbre then 12 chroma channels

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.track_ids)}

    def __len__(self) -> int:
        return len(self.track_ids)

    def rows(self, ids: list[str]) -> np.ndarray:
        try:
            return np.fromiter((self.index[t] for t in ids), dtype=np.int64, count=len(ids))
        except KeyError as e:
            raise KeyError(f"track {e.args[0]} has no song inputs (lyrics/audio) loaded") from None


def lyrics_arrays(t: pa.Table, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``idx`` of a lyrics table's ``tokens`` ``(S, L)`` int16 and ``length`` ``(S,)`` int32 columns."""
    mat = t.column("tokens").combine_chunks().values.to_numpy().reshape(len(t), -1)
    return mat[idx], t.column("length").to_numpy()[idx].astype(np.int32)


def load_songs(track_ids: set[str], lyrics_path: str | Path | None, features_dir: str | Path | None) -> SongTable:
    """Load tokens and/or audio for exactly ``track_ids`` (filtered at read time)."""
    ids = sorted(track_ids)
    tokens = lengths = audio = None
    if lyrics_path is not None:
        t = pq.read_table(lyrics_path, columns=["track_id", "tokens", "length"],
                          filters=pc.field("track_id").isin(ids))
        order = {tid: i for i, tid in enumerate(t.column("track_id").to_pylist())}
        missing = [x for x in ids if x not in order]
        if missing:
            raise KeyError(f"{len(missing)} tracks have no lyrics in {lyrics_path}, e.g. {missing[0]}")
        tokens, lengths = lyrics_arrays(t, np.array([order[x] for x in ids], dtype=np.int64))
    if features_dir is not None:
        audio = AudioShards(features_dir).audio(ids)  # (S, 24, T)
    return SongTable(ids, tokens, lengths, audio)


@dataclass
class PairData:
    """Pairs as row indices into a :class:`SongTable`."""

    src: np.ndarray  # (N,) int64
    tgt: np.ndarray  # (N,) int64
    score: np.ndarray  # (N,) float32
    label: np.ndarray  # (N,) float32 (0/1)
    labelled: np.ndarray  # (N,) bool
    src_ids: list[str]
    tgt_ids: list[str]

    def __len__(self) -> int:
        return len(self.src)


def load_pairs(path: str | Path, songs: SongTable) -> PairData:
    t = pq.read_table(path)
    src_ids = t.column("src").to_pylist()
    tgt_ids = t.column("tgt").to_pylist()
    return PairData(songs.rows(src_ids), songs.rows(tgt_ids), t.column("score").to_numpy().astype(np.float32),
                    t.column("label").to_numpy().astype(np.float32),
                    t.column("labelled").to_numpy(zero_copy_only=False),
                    src_ids, tgt_ids)


def split_track_ids(*paths: str | Path) -> set[str]:
    ids: set[str] = set()
    for p in paths:
        t = pq.read_table(p, columns=["src", "tgt"])
        ids.update(t.column("src").to_pylist())
        ids.update(t.column("tgt").to_pylist())
    return ids
