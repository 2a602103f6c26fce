"""The input pairs of ``build_splits`` as integer track codes (:class:`CodedPairs`, 12 bytes a pair), and
the sampler of unlabelled negative pairs over those codes (vectorised, with the draws of one-at-a-time
rejection sampling)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def unique_sorted(x: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Distinct values of ``x``, ascending (a sort and a diff: far faster than a hash table at 10^7 keys).
    ``in_place`` sorts ``x`` itself instead of a copy."""
    if in_place:
        x.sort()
    else:
        x = np.sort(x)
    return x[np.concatenate(([True], x[1:] != x[:-1]))] if len(x) else x


def distinct_tracks(df: pl.DataFrame) -> pl.Series:
    """The tracks of a ``src, tgt`` table, ascending (each column made distinct first: no copy of every id)."""
    return pl.concat([df["src"].unique(), df["tgt"].unique()]).unique().sort()


def _in_sorted(keys: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Which of ``x`` occur in the ascending array ``keys``."""
    if not len(keys):
        return np.zeros(len(x), dtype=bool)
    i = np.minimum(np.searchsorted(keys, x), len(keys) - 1)
    return keys[i] == x


def sample_negatives(tracks: np.ndarray, n: int, taken: np.ndarray, n_taken: int, added: np.ndarray, n_names: int,
               rng: np.random.Generator, symmetric: bool, batch: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``n`` distinct unlabelled pairs among the track codes ``tracks`` (ascending) avoiding the
    listed pairs (``taken``: sorted unordered keys ``min * n_names + max``; ``n_taken`` distinct listed
    (src, tgt)) and the negatives drawn before (``added``: sorted unordered keys).

    The draws are those of rejection sampling one candidate at a time (two track draws per try; a try is
    lost on a self pair, a listed pair, an earlier negative, or a pair already drawn in this call; at most
    ``50 n + 100`` tries), done in vectorised batches: a batch's candidates are judged together (the first
    valid occurrence of a pair wins, as it would one at a time), and the generator is then wound to exactly
    the tries that were used, so the next call draws what the one-at-a-time loop would have drawn."""
    empty = np.zeros(0, dtype=np.int64)
    if len(tracks) < 2 or n <= 0:
        return empty, empty
    max_pairs = len(tracks) * (len(tracks) - 1) // (2 if symmetric else 1)
    n = min(n, max(0, max_pairs - n_taken))
    cap = 50 * n + 100
    got_s: list[np.ndarray] = []
    got_t: list[np.ndarray] = []
    seen = empty  # ascending keys of the pairs accepted in this call
    got = tries = 0
    while got < n and tries < cap:
        b = int(min(cap - tries, batch, max(256, 2 * (n - got))))
        state = rng.bit_generator.state
        draw = tracks[rng.integers(0, len(tracks), 2 * b)].reshape(b, 2)
        a, c = draw[:, 0], draw[:, 1]
        if symmetric:
            a, c = np.minimum(a, c), np.maximum(a, c)
        key = a * n_names + c
        either = np.minimum(a, c) * n_names + np.maximum(a, c)
        ok = (a != c) & ~_in_sorted(taken, either) & ~_in_sorted(added, either) & ~_in_sorted(seen, key)
        idx = np.nonzero(ok)[0]
        _, first = np.unique(key[idx], return_index=True)  # first occurrence of each new pair in the batch
        idx = np.sort(idx[first])[: n - got]
        if got + len(idx) >= n:  # done inside this batch: wind the generator to the tries used
            used = int(idx[-1]) + 1
            rng.bit_generator.state = state
            rng.integers(0, len(tracks), 2 * used)
        else:
            used = b
        tries += used
        got += len(idx)
        got_s.append(a[idx])
        got_t.append(c[idx])
        seen = unique_sorted(np.concatenate([seen, key[idx]]))
    return (np.concatenate(got_s) if got_s else empty), (np.concatenate(got_t) if got_t else empty)


@dataclass(frozen=True)
class CodedPairs:
    """The input pairs as integer track codes: ``names`` holds every track of the input once, ascending
    (so codes order like the ids), ``src``/``tgt`` index it (int32), ``score`` is float32: 12 bytes a pair
    and one string per track, whatever the number of pairs."""

    names: pl.Series
    src: np.ndarray
    tgt: np.ndarray
    score: np.ndarray

    @classmethod
    def from_frame(cls, df: pl.DataFrame) -> CodedPairs:
        """From a ``src, tgt, score`` table (small inputs, tests)."""
        names = distinct_tracks(df)
        arrow_names = names.to_arrow()
        code = [pc.index_in(df[c].to_arrow(), value_set=arrow_names).to_numpy(zero_copy_only=False)
                for c in ("src", "tgt")]
        return cls(names, code[0].astype(np.int32), code[1].astype(np.int32),
                   df["score"].cast(pl.Float32).to_numpy())

    @classmethod
    def read(cls, path: str | Path, batch_rows: int = 1 << 21) -> CodedPairs:
        """A pairs Parquet file in two streamed passes (the distinct ids, then each batch's codes by an
        Arrow hash look-up): never a string per pair in memory."""
        f = pq.ParquetFile(path)
        seen: list[pa.Array] = []
        for b in f.iter_batches(batch_size=batch_rows, columns=["src", "tgt"]):
            seen += [pc.unique(b.column(0)), pc.unique(b.column(1))]
            if len(seen) > 32:
                seen = [pc.unique(pa.concat_arrays(seen))]
        ids = pc.unique(pa.concat_arrays(seen)) if seen else pa.array([], pa.string())
        names = pl.Series(ids.cast(pa.large_string())).cast(pl.String).sort()
        arrow_names = names.to_arrow()
        n = f.metadata.num_rows
        src, tgt, score = np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.float32)
        i = 0
        for b in f.iter_batches(batch_size=batch_rows, columns=["src", "tgt", "score"]):
            j = i + b.num_rows
            for col, out in ((0, src), (1, tgt)):
                out[i:j] = pc.index_in(b.column(col), value_set=arrow_names).to_numpy(zero_copy_only=False)
            score[i:j] = b.column(2).to_numpy(zero_copy_only=False)
            i = j
        return cls(names, src, tgt, score)

    def __len__(self) -> int:
        return len(self.src)

    def listed(self) -> tuple[np.ndarray, int]:
        """The listed pairs as ascending unordered keys ``min * n + max`` (``n`` tracks), and the number of
        distinct listed (src, tgt)."""
        n = np.int64(len(self.names))
        key = self.src.astype(np.int64)  # one int64 buffer, reused: memory is 8 bytes a pair over the codes
        key *= n
        key += self.tgt
        key.sort()
        n_directed = int(len(key) > 0) + int(np.count_nonzero(key[1:] != key[:-1]))
        np.minimum(self.src, self.tgt, out=key, dtype=np.int64)
        key *= n
        key += np.maximum(self.src, self.tgt)
        return unique_sorted(key, in_place=True), n_directed
