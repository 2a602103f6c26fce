"""The listwise ranking loss at catalog scale: sampled negatives, log-Q correction, accidental hits.

The in-batch listwise loss (``learn.loop.listwise_loss``) ranks each batch song's listed similars among the
other songs of its batch. When the training catalog is far larger than a batch, three things matter
(Yi et al. 2019, "Sampling-bias-corrected neural modeling for large corpus item recommendations"; Yang
et al. 2020, "Mixed negative sampling"):

- **sampled negatives** (``train.rank_negatives``): songs drawn uniformly from the training catalog and
  encoded with the batch, as extra candidates (never anchors), so that songs no batch pair holds are
  pushed away too, not only the popular ones the pairs bring;
- **log-Q correction** (``train.rank_logq``): a song's in-batch logit minus the log of its chance of being
  in a batch (pair songs come in by how often they are listed, sampled ones uniformly), so the softmax
  estimates the full-catalog one instead of penalising popular songs for being frequent negatives;
- **accidental hits** (``train.rank_mask_hits``): a batch song that is listed with the anchor in the
  training pairs, but not through a pair of this batch, is masked out of the anchor's softmax instead of
  being taught as a negative.

:class:`RankSampler` holds what these need (host arrays over song rows); :func:`add_negatives` turns a
planned step into one with its sampled songs, the songs' log-Q and the accidental hits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from songsim.learn.batches import Step
from songsim.learn.data import PairData


@dataclass(frozen=True)
class RankSampler:
    """Sampled negatives, log-Q and accidental hits for one training run (song rows of its song table)."""

    pool: np.ndarray  # (M,) int64 song rows sampled negatives are drawn from (the training songs)
    n: int  # sampled negatives per step (0: in-batch only)
    log_q: np.ndarray | None  # (S,) float32 log-probability that a song row is among a step's songs; None: off
    indptr: np.ndarray | None  # (S + 1,) CSR of each song row's listed training similars; None: no masking
    neighbours: np.ndarray | None  # (nnz,) int64 song rows

    @classmethod
    def build(cls, pairs: PairData, n_songs: int, batch_size: int, n: int, logq: bool, mask_hits: bool
              ) -> RankSampler:
        """From the training pairs: the pool (every song a pair holds), each song's chance to be in a step
        (``2 x batch_size`` pair slots drawn by listing frequency, plus ``n`` uniform draws from the pool),
        and the listed (labelled) pairs as a symmetric adjacency."""
        pool = np.unique(np.concatenate([pairs.src, pairs.tgt])).astype(np.int64)
        log_q = None
        if logq:
            slots = np.bincount(np.concatenate([pairs.src, pairs.tgt]), minlength=n_songs).astype(np.float64)
            share = slots / max(1.0, slots.sum())  # chance that one pair slot holds the song
            q = 2 * batch_size * share
            q[pool] += n / max(1, len(pool))
            log_q = np.log(np.clip(q, 1e-12, 1.0)).astype(np.float32)
        indptr = neighbours = None
        if mask_hits:
            lab = pairs.labelled
            a = np.concatenate([pairs.src[lab], pairs.tgt[lab]]).astype(np.int64)
            b = np.concatenate([pairs.tgt[lab], pairs.src[lab]]).astype(np.int64)
            order = np.lexsort((b, a))
            a, b = a[order], b[order]
            indptr = np.zeros(n_songs + 1, dtype=np.int64)
            np.add.at(indptr, a + 1, 1)
            indptr = np.cumsum(indptr)
            neighbours = b
        return cls(pool, n, log_q, indptr, neighbours)

    @property
    def active(self) -> bool:
        return self.n > 0 or self.log_q is not None or self.indptr is not None

    def hits(self, songs: np.ndarray) -> np.ndarray:
        """``(2, H)`` positions ``(i, j)`` in ``songs`` (distinct, any order) of listed training pairs whose
        two songs are both in ``songs`` (both orders)."""
        if self.indptr is None:
            return np.zeros((2, 0), dtype=np.int64)
        order = np.argsort(songs, kind="stable")
        ranked = songs[order]  # ascending
        start, stop = self.indptr[songs], self.indptr[songs + 1]
        counts = stop - start
        owner = np.repeat(np.arange(len(songs)), counts)  # position of each neighbour's anchor
        idx = np.repeat(start - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        nb = self.neighbours[idx]
        pos = np.searchsorted(ranked, nb)
        found = (pos < len(songs)) & (ranked[np.minimum(pos, len(songs) - 1)] == nb)
        return np.stack([owner[found], order[pos[found]]]).astype(np.int64)


def add_negatives(step: Step, rng: np.random.Generator, sampler: RankSampler, dedup: bool) -> Step:
    """``step`` with ``sampler.n`` uniformly drawn songs added (dedup: merged into the distinct songs;
    otherwise as extra slots), and the songs' log-Q and accidental hits, indexed like the rows of the
    listwise loss: the step's songs when they are distinct, else ``np.unique(songs)`` (``loop.distinct_slots``)."""
    extra = sampler.pool[rng.integers(0, len(sampler.pool), size=sampler.n)] if sampler.n else np.zeros(0, np.int64)
    if dedup:
        songs = np.unique(np.concatenate([step.songs, extra]))
        left, right = np.searchsorted(songs, step.songs[step.left]), np.searchsorted(songs, step.songs[step.right])
    else:
        songs, left, right = np.concatenate([step.songs, extra]), step.left, step.right
    uniq = np.unique(songs)
    space = songs if len(uniq) == len(songs) else uniq  # the rows of the loss: the slots when all are distinct
    log_q = sampler.log_q[space] if sampler.log_q is not None else None
    return replace(step, songs=songs.astype(np.int64), left=left.astype(np.int64), right=right.astype(np.int64),
                   log_q=log_q, hits=sampler.hits(space))
