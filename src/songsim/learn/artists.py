"""Artist mates: a second teacher for the audio encoder, beyond the pairs.

On a real-shaped world the audio model learns from a few noisy Last.fm scores per song, while every MSD
track names its artist. Songs of one artist tend to sound alike, which is how audio embeddings are often
taught when labels are scarce (Park et al. 2018, "Representation learning of music using artist
labels"). With ``audio_siamese.model.artist_weight`` above 0 each training step also draws some of its
songs as anchors, adds for each another training song of the same artist (its mate, drawn from all the
training songs, not only the step's) and asks each anchor to pick out its own mate among the other anchors' mates
(:func:`songsim.learn.loop.artist_loss`, an InfoNCE softmax in the ranking space). The training songs are
the songs of the training pairs: only their artist ids are read, never a validation or test song's.

:class:`ArtistSampler` holds the training songs grouped by artist (host arrays over song rows);
:func:`add_mates` turns a planned step into one with its anchors and their mates. The mates also join the
step's listwise softmax as candidates, like sampled negatives; with ``train.rank_logq`` their log-Q is that
of their pairs alone (the chance the artist draw adds to a song's is left out).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from songsim.ingest.audio_shards import read_artists
from songsim.learn.batches import Step
from songsim.learn.data import PairData, SongTable


def artist_ids(songs_path: str | Path, track_ids: list[str]) -> list[str | None]:
    """The artist id of each of ``track_ids`` from the song metadata table (chunk_audio's, from the MSD
    files' ``metadata/songs``), None where it has none; only those tracks' rows are read."""
    known = read_artists(songs_path, track_ids)
    return [known.get(x) for x in track_ids]


def training_artists(songs_path: str | Path, songs: SongTable, pairs: PairData) -> list[str | None]:
    """The artist id of each song row of ``songs`` that is in one of the training ``pairs`` (None for every
    other row, and where the table has none): what :meth:`ArtistSampler.build` takes. Only those songs'
    artist ids are read, never a validation or test song's."""
    rows = np.unique(np.concatenate([pairs.src, pairs.tgt]))
    artist_of: list[str | None] = [None] * len(songs)
    for r, a in zip(rows, artist_ids(songs_path, list(songs.ids(rows)))):
        artist_of[r] = a
    return artist_of


@dataclass(frozen=True)
class ArtistSampler:
    """The training songs of each artist with at least two of them, as a CSR over artist codes."""

    code: np.ndarray  # (S,) int64 artist code of each song row; -1: no mate to draw (not a training song,
    # no artist id, or its artist's only training song)
    indptr: np.ndarray  # (A + 1,) int64: artist a's songs are members[indptr[a]:indptr[a + 1]]
    members: np.ndarray  # (sum,) int64 song rows
    n: int  # anchors drawn per step (fewer when a step holds fewer songs that have a mate)

    @classmethod
    def build(cls, artist_of: list[str | None], pool: np.ndarray, n: int) -> ArtistSampler:
        """``artist_of``: the artist id of each song row (None: unknown); ``pool``: the song rows that may be
        anchors or mates (the training songs)."""
        pool = np.unique(np.asarray(pool, dtype=np.int64))
        keys = np.array([artist_of[i] or "" for i in pool], dtype=object)
        known = keys != ""
        pool, keys = pool[known], keys[known]
        _, inv, counts = np.unique(keys.astype(str), return_inverse=True, return_counts=True)
        shared = counts[inv] >= 2  # an artist with one training song gives it no mate
        pool, inv = pool[shared], inv[shared]
        _, inv = np.unique(inv, return_inverse=True)  # artist codes 0..A-1 over the kept artists
        order = np.lexsort((pool, inv))
        members, groups = pool[order], inv[order]
        indptr = np.searchsorted(groups, np.arange(int(groups.max()) + 2 if len(groups) else 1))
        code = np.full(len(artist_of), -1, dtype=np.int64)
        code[members] = groups
        return cls(code, indptr.astype(np.int64), members, n)

    @property
    def artists(self) -> int:
        return len(self.indptr) - 1

    def draw(self, songs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(3, M)`` int64: up to ``n`` distinct anchors among ``songs`` (song rows) that have a mate, a mate
        of each (another training song of its artist, uniformly), and the anchors' artist codes."""
        cand = np.unique(songs)
        cand = cand[self.code[cand] >= 0]
        if len(cand) > self.n:
            cand = np.sort(rng.choice(cand, size=self.n, replace=False))
        group = self.code[cand]
        start, size = self.indptr[group], self.indptr[group + 1] - self.indptr[group]
        k = (rng.random(len(cand)) * (size - 1)).astype(np.int64)  # one of the size - 1 others
        mate = self.members[start + k]
        mate = np.where(mate == cand, self.members[start + size - 1], mate)  # skip the anchor itself
        return np.stack([cand, mate, group]).astype(np.int64)


def add_mates(step: Step, rng: np.random.Generator, sampler: ArtistSampler, dedup: bool) -> Step:
    """``step`` with its anchors, their mates and artist codes (``Step.mates``, song rows) and the mates
    added to its songs (dedup: merged into the distinct songs; otherwise as extra slots).

    Exactly one number is taken from ``rng`` whatever the step holds (the draw runs on a generator seeded
    from it): under DDP every rank extends its own share of the global batch with the shared generator,
    and the plan's later draws (the next batches' order and swaps) must stay the same on every rank."""
    mates = sampler.draw(step.songs, np.random.default_rng(int(rng.integers(2**63))))
    if dedup:
        songs = np.unique(np.concatenate([step.songs, mates[1]]))
        left, right = np.searchsorted(songs, step.songs[step.left]), np.searchsorted(songs, step.songs[step.right])
    else:
        songs, left, right = np.concatenate([step.songs, mates[1]]), step.left, step.right
    return replace(step, songs=songs.astype(np.int64), left=left.astype(np.int64), right=right.astype(np.int64),
                   mates=mates)


def mate_positions(step: Step) -> np.ndarray:
    """``(3, M)`` int64: each anchor's and mate's first slot in ``step.songs``, and the artist codes."""
    uniq, first = np.unique(step.songs, return_index=True)
    a, m, g = step.mates
    return np.stack([first[np.searchsorted(uniq, a)], first[np.searchsorted(uniq, m)], g]).astype(np.int64)
