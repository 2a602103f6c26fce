"""Training batches, planned on the host and gathered where the model runs.

The host plans each step from small integer arrays only: the epoch's pair order, which side of a pair
is which, the distinct songs of the batch (``dedup``) and the padded token width (from the song
lengths, which stay on the host because packing an LSTM batch reads them there). The large song
arrays (tokens ``(S, L)`` int16 and audio frames ``(S, 24, T)``) live in a :class:`SongStore`:

- *resident*: placed once on the training device when they fit ``train.resident_mb`` (on CPU that is
  the table itself, no copy); a step then sends one small index buffer to the device and
  gathers its inputs there;
- *streamed*: otherwise each step's inputs are gathered on the host into pinned memory and copied
  without blocking, while the device is still busy with the previous step (the loop prepares one step
  ahead).

Under ``torchrun`` every rank plans the same global batch (same seeded order and swaps) and keeps its
own stride of it, so the ranks' shares are disjoint and cover every pair of the epoch once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from songsim.learn.data import PairData, SongTable


@dataclass(frozen=True)
class Step:
    """One optimiser step of one rank."""

    rows: np.ndarray  # (p,) int64 pair rows of this rank
    songs: np.ndarray  # (U,) int64 song rows to encode
    left: np.ndarray  # (p,) int64 index into ``songs`` of each pair's first song
    right: np.ndarray  # (p,) int64 ... and of its second song
    n_global: int  # pairs in the global batch, all ranks together
    # catalog-scale listwise loss (learn.negatives), over the step's distinct songs np.unique(songs):
    log_q: np.ndarray | None = None  # (U,) float32 log-probability of each being in a step; None: no correction
    hits: np.ndarray | None = None  # (2, H) int64 listed training pairs among them (accidental hits); None: none
    # artist mates (learn.artists): (3, M) int64 song rows of the anchors, of their mates, the anchors' artist codes
    mates: np.ndarray | None = None


def plan_epoch(pairs: PairData, batch_size: int, dedup: bool, rng: np.random.Generator | None,
               rank: int = 0, world: int = 1,
               extend: Callable[[Step, np.random.Generator], Step] | None = None) -> Iterator[Step]:
    """The steps of one epoch for ``rank`` of ``world``; shuffled when ``rng`` is given.

    ``batch_size`` is the global batch. Pair sides are swapped at random in training so that ``concat``
    merges do not learn which side a song was listed on. A global batch that would leave a rank fewer
    than two pairs (batch norm needs two) is skipped by every rank alike. With one rank the draws and
    batches are those of the single-process loop, so CPU runs repeat exactly. ``extend`` (e.g.
    ``learn.negatives.add_negatives``) turns each planned step into another, drawing from ``rng`` in the
    global plan's order (every rank draws alike).
    """
    order = rng.permutation(len(pairs)) if rng is not None else np.arange(len(pairs))
    for k in range(0, len(order), batch_size):
        rows = order[k:k + batch_size]
        src, tgt = pairs.src[rows], pairs.tgt[rows]
        if rng is not None:
            swap = rng.random(len(rows)) < 0.5
            src, tgt = np.where(swap, tgt, src), np.where(swap, src, tgt)
        if len(rows) < 2 * world:
            continue
        mine = slice(rank, None, world)
        step = step_for(rows[mine], src[mine], tgt[mine], dedup, len(rows))
        yield step if extend is None else extend(step, rng)


def compose_extensions(*extend: Callable[[Step, np.random.Generator], Step] | None
                       ) -> Callable[[Step, np.random.Generator], Step] | None:
    """One ``plan_epoch`` extension applying each given one in order (None when none is given)."""
    given = [f for f in extend if f is not None]
    if len(given) <= 1:
        return given[0] if given else None

    def both(step: Step, rng: np.random.Generator) -> Step:
        for f in given:
            step = f(step, rng)
        return step
    return both


def steps_in_pass(n_pairs: int, batch_size: int, world: int = 1) -> int:
    """The steps :func:`plan_epoch` yields for ``n_pairs``: a last batch too small for every rank is skipped."""
    return n_pairs // batch_size + (n_pairs % batch_size >= 2 * world)


def epoch_passes(steps_per_pass: int, min_epoch_steps: int) -> int:
    """Passes over the training pairs that make one epoch of at least ``min_epoch_steps`` optimiser steps
    (``train.min_epoch_steps``): 1 when one pass is long enough. A small training set (a learning curve's
    first point, the lyrics pairs of a world where most songs lack lyrics) otherwise trains for a handful
    of steps in all, and its model stays near where it started; epochs, patience and the scheduler keep
    counting the same units of work."""
    return max(1, -(-min_epoch_steps // max(1, steps_per_pass)))


def step_for(rows: np.ndarray, src: np.ndarray, tgt: np.ndarray, dedup: bool, n_global: int) -> Step:
    """Distinct songs once (dedup) or every song slot (2P)."""
    if dedup:
        songs, inv = np.unique(np.concatenate([src, tgt]), return_inverse=True)
        left, right = inv[: len(src)], inv[len(src):]
    else:
        songs = np.concatenate([src, tgt])
        left, right = np.arange(len(src)), np.arange(len(src), 2 * len(src))
    return Step(rows.astype(np.int64), songs.astype(np.int64), left.astype(np.int64), right.astype(np.int64),
                n_global)


class SongStore:
    """The song table where the model reads it; :meth:`batch` gives a step's model inputs on ``device``.

    ``width_multiple`` rounds the padded token width up (on CUDA: fewer distinct shapes for the kernels
    to tune for); 1 trims each batch to its longest song exactly, as the CPU path always has.
    """

    def __init__(self, songs: SongTable, device: torch.device, resident_mb: float = float("inf"),
                 width_multiple: int = 1):
        self.device = device
        self.width_multiple = width_multiple
        self.n_songs = len(songs)
        self.lengths = songs.lengths  # (S,) int32, host
        self.nbytes = sum(a.nbytes for a in (songs.tokens, songs.counts, songs.audio) if a is not None)
        self.resident = self.nbytes <= resident_mb * 2**20
        self.pin = device.type == "cuda"  # what is sent goes through pinned memory
        place = (lambda a: torch.from_numpy(a).to(device)) if self.resident else torch.from_numpy
        self.tokens = place(songs.tokens) if songs.tokens is not None else None  # (S, L) int16
        self.counts = place(songs.counts) if songs.counts is not None else None  # (S, L) int16 word counts
        self.audio = place(songs.audio) if songs.audio is not None else None  # (S, 24, T)
        # partial tables: which songs have each modality (S,) bool; None = every song has it
        self.has = {m: place(a) for m, a in (("has_lyrics", songs.has_lyrics), ("has_audio", songs.has_audio))
                    if a is not None}

    def __len__(self) -> int:
        return self.n_songs

    def _width(self, rows: np.ndarray) -> int:
        w = max(1, int(self.lengths[rows].max()))
        m = self.width_multiple
        return min(self.tokens.shape[1], -(-w // m) * m)

    def _send(self, a: torch.Tensor) -> torch.Tensor:
        if self.pin:
            a = a.pin_memory()
        return a.to(self.device, non_blocking=True)

    def tensors(self, rows: np.ndarray, idx: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Inputs of songs ``rows`` (host array; ``idx``: the same rows already on the device)."""
        out: dict[str, torch.Tensor] = {}
        if self.resident and idx is None:
            idx = self._send(torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64)))
        if self.tokens is not None:
            width = self._width(rows)
            tok = self.tokens[idx, :width] if self.resident else self._send(self.tokens[rows, :width])
            out["tokens"] = tok.long()  # (U, width)
            if self.counts is not None:
                cnt = self.counts[idx, :width] if self.resident else self._send(self.counts[rows, :width])
                out["counts"] = cnt.float()  # (U, width)
            # lengths stay on the host: pack_padded_sequence reads them there (no device sync)
            out["lengths"] = torch.from_numpy(np.maximum(self.lengths[rows], 1).astype(np.int64))
        if self.audio is not None:
            out["audio"] = self.audio[idx] if self.resident else self._send(self.audio[rows])  # (U, 24, T)
        for m, a in self.has.items():
            out[m] = a[idx] if self.resident else self._send(a[rows])  # (U,) bool
        return out

    def batch(self, step: Step) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``(model inputs, pair rows on the device)``: one host-to-device copy of the step's indices."""
        n_r, n_s, n_p = len(step.rows), len(step.songs), len(step.left)
        flat = self._send(torch.from_numpy(np.concatenate([step.rows, step.songs, step.left, step.right])))
        rows, songs, left, right = torch.split(flat, [n_r, n_s, n_p, n_p])
        batch = self.tensors(step.songs, songs if self.resident else None)
        batch["left"], batch["right"] = left, right
        return batch, rows


def make_batch(songs: SongTable, src: np.ndarray, tgt: np.ndarray, dedup: bool,
               device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Model inputs for the pairs ``(src[k], tgt[k])`` in one go (tests, benchmarks, one-off scoring)."""
    step = step_for(np.arange(len(src)), np.asarray(src), np.asarray(tgt), dedup, len(src))
    return SongStore(songs, torch.device(device)).batch(step)[0]
