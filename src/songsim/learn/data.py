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

    def ids(self, rows: np.ndarray) -> np.ndarray:
        """Track ids of song ``rows`` (an object array; for the songs of a query, not one per pair)."""
        return np.asarray(self.track_ids, dtype=object)[rows]

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
    """Pairs as row indices into a :class:`SongTable`: 14 bytes per pair, no Python object per pair (the
    track ids live once per song, in the song table; ``SongTable.track_ids[pairs.src]`` gives them)."""

    src: np.ndarray  # (N,) int32 song rows
    tgt: np.ndarray  # (N,) int32 song rows
    score: np.ndarray  # (N,) float32 Last.fm score (sampled negatives: splits.neg_label)
    label: np.ndarray  # (N,) int8 0/1: score >= splits.threshold
    labelled: np.ndarray  # (N,) bool: False for sampled negatives

    def __len__(self) -> int:
        return len(self.src)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.src, self.tgt, self.score, self.label, self.labelled))


def load_pairs(path: str | Path, songs: SongTable) -> PairData:
    """A split file's pairs, mapped to ``songs`` rows column by column (Arrow ``index_in``, no per-pair
    Python objects); a pair whose track has no song inputs is an error naming the file and the track."""
    t = pq.read_table(path, columns=["src", "tgt", "score", "label", "labelled"])
    value_set = pa.array(songs.track_ids, pa.string())
    rows = []
    for col in ("src", "tgt"):
        ids = t.column(col)
        r = pc.index_in(ids, value_set=value_set)
        if r.null_count:
            bad = ids.filter(pc.is_null(r)).slice(0, 1).to_pylist()[0]
            raise KeyError(f"{path}: track {bad} ({r.null_count} pair(s) in column {col}) has no song inputs "
                           f"(lyrics/audio) loaded")
        rows.append(r.to_numpy(zero_copy_only=False).astype(np.int32))
    return PairData(rows[0], rows[1], t.column("score").to_numpy().astype(np.float32),
                    t.column("label").to_numpy().astype(np.int8),
                    t.column("labelled").to_numpy(zero_copy_only=False).astype(bool))


def split_track_ids(*paths: str | Path) -> set[str]:
    """The distinct track ids of split files (one Python string per track, none per pair)."""
    ids: set[str] = set()
    for p in paths:
        t = pq.read_table(p, columns=["src", "tgt"])
        for col in ("src", "tgt"):
            ids.update(pc.unique(t.column(col)).to_pylist())
    return ids
