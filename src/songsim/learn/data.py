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
    tokens: np.ndarray | None  # (S, L) int16, 0-padded: word sequence, or distinct words when counts is set
    lengths: np.ndarray | None  # (S,) int32: tokens before the padding
    audio: np.ndarray | None  # (S, 24, T) float16/32: 12 timbre then 12 chroma channels
    counts: np.ndarray | None = None  # (S, L) int16: the count of each of tokens' words (bag input)
    has_lyrics: np.ndarray | None = None  # (S,) bool, partial tables only: False = no lyrics (tokens all 0)
    has_audio: np.ndarray | None = None  # (S,) bool, partial tables only: False = no audio (frames all 0)

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


def lyrics_columns(bag_words: int = 0) -> list[str]:
    """The lyrics table columns :func:`lyrics_arrays` reads (``bag_words`` as there)."""
    return ["track_id", "word_ids", "counts"] if bag_words else ["track_id", "tokens", "length"]


def lyrics_arrays(t: pa.Table, idx: np.ndarray, bag_words: int = 0, chunk: int = 8192
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Rows ``idx`` of a lyrics table as model inputs ``(tokens (S, L) int16, lengths (S,) int32, counts)``.

    ``bag_words`` 0: the ``tokens``/``length`` word sequence (expand_lyrics' ``max_len``), counts None.
    Otherwise the song's bag from ``word_ids``/``counts``: its distinct words, most frequent first (ties:
    vocabulary order), at most ``bag_words`` of them, with their counts ``(S, L)`` int16 (capped at 32,767); L is the
    longest bag kept, so the width follows the data, not the cap. Bags are sorted ``chunk`` songs at a time,
    so the sort's per-word temporaries stay bounded however many songs are loaded."""
    if not bag_words:
        mat = t.column("tokens").combine_chunks().values.to_numpy().reshape(len(t), -1)
        return mat[idx], t.column("length").to_numpy()[idx].astype(np.int32), None
    ids_all, cnt_all = t.column("word_ids").combine_chunks(), t.column("counts").combine_chunks()
    n_all = pc.list_value_length(ids_all).to_numpy(zero_copy_only=False).astype(np.int64)[idx]  # (S,)
    lengths = np.minimum(n_all, bag_words).astype(np.int32)
    width = max(1, int(lengths.max()) if len(lengths) else 1)
    tokens = np.zeros((len(idx), width), dtype=np.int16)
    counts = np.zeros((len(idx), width), dtype=np.int16)
    for start in range(0, len(idx), chunk):
        rows = pa.array(idx[start:start + chunk], pa.int64())
        n = n_all[start:start + chunk]
        words = pc.list_flatten(ids_all.take(rows)).to_numpy().astype(np.int16)  # (sum n,)
        cnt = np.minimum(pc.list_flatten(cnt_all.take(rows)).to_numpy(), np.iinfo(np.int16).max).astype(np.int16)
        song = np.repeat(np.arange(len(n)), n)
        order = np.lexsort((words, -cnt.astype(np.int32), song))  # per song: count down, then word id
        pos = np.arange(len(order)) - np.repeat(np.cumsum(n) - n, n)  # rank of each sorted word in its song
        keep = pos < bag_words
        tokens[start + song[keep], pos[keep]] = words[order][keep]
        counts[start + song[keep], pos[keep]] = cnt[order][keep]
    return tokens, lengths, counts


def lyrics_rows(t: pa.Table, ids: list[str], bag_words: int = 0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """The model inputs of songs ``ids`` from a lyrics table ``t`` holding some of them, as
    :func:`lyrics_arrays`, with all-zero rows (length 0) for the songs ``t`` lacks, and the ``(S,)`` bool
    mask of those it has: ``(tokens, lengths, counts, have)``."""
    order = {tid: i for i, tid in enumerate(t.column("track_id").to_pylist())}
    have = np.array([x in order for x in ids], dtype=bool)
    tok, ln, cnt = lyrics_arrays(t, np.array([order[x] for x in ids if x in order], dtype=np.int64), bag_words)
    if have.all():
        return tok, ln, cnt, have
    tokens = np.zeros((len(ids), tok.shape[1]), dtype=tok.dtype)
    tokens[have] = tok
    lengths = np.zeros(len(ids), dtype=np.int32)
    lengths[have] = ln
    counts = None
    if cnt is not None:
        counts = np.zeros_like(tokens)
        counts[have] = cnt
    return tokens, lengths, counts, have


def load_songs(track_ids: set[str], lyrics_path: str | Path | None, features_dir: str | Path | None,
               bag_words: int = 0, partial: bool = False) -> SongTable:
    """Load tokens (``bag_words``: as :func:`lyrics_arrays`) and/or audio for exactly ``track_ids``
    (filtered at read time). ``partial``: a song may lack one of them (not both): its rows are zeros and
    the table's ``has_lyrics``/``has_audio`` masks say which it has; otherwise a missing one is a KeyError."""
    ids = sorted(track_ids)
    tokens = lengths = audio = counts = has_lyrics = has_audio = None
    if lyrics_path is not None:
        t = pq.read_table(lyrics_path, columns=lyrics_columns(bag_words), filters=pc.field("track_id").isin(ids))
        tokens, lengths, counts, have = lyrics_rows(t, ids, bag_words)  # zero rows for songs without lyrics
        if not have.all() and not partial:
            missing = [x for x, ok in zip(ids, have) if not ok]
            raise KeyError(f"{len(missing)} tracks have no lyrics in {lyrics_path}, e.g. {missing[0]}")
        has_lyrics = have if partial else None
    if features_dir is not None:
        if partial:
            audio, has_audio = AudioShards(features_dir).audio_or_zeros(ids)  # (S, 24, T), (S,)
        else:
            audio = AudioShards(features_dir).audio(ids)  # (S, 24, T)
    if partial:
        neither = np.ones(len(ids), dtype=bool)
        for m in (has_lyrics, has_audio):
            if m is not None:
                neither &= ~m
        if neither.any():
            bad = ids[int(np.argmax(neither))]
            raise KeyError(f"{int(neither.sum())} tracks have neither lyrics nor audio, e.g. {bad}")
    return SongTable(ids, tokens, lengths, audio, counts, has_lyrics, has_audio)


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
