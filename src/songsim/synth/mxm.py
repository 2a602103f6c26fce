"""Writers of the musiXmatch dataset formats (the mirror of ``ingest.readers.mxm``): ``mxm_dataset_{train,test}.txt``
and ``mxm_dataset.db``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from songsim.core.writers import AtomicWriter


def track_line(track: str, mxm_id: int, word_ids: np.ndarray, counts: np.ndarray) -> str:
    """``TRACK_ID,MXM_ID,idx:count,...`` with 1-based word indices, as in the real files."""
    return f"{track},{mxm_id}," + ",".join(f"{a}:{b}" for a, b in zip(word_ids, counts)) + "\n"


class MxmTextWriter(AtomicWriter):
    """One ``mxm_dataset_<split>.txt``: ``#`` comment lines, the ``%`` vocabulary line, one line per track;
    appears atomically on close."""

    def __init__(self, path: str | Path, words: list[str], comments: list[str]):
        super().__init__(path)
        self._fh = open(self.tmp, "w", encoding="utf-8")
        for c in comments:
            self._fh.write(f"#{' ' + c if c else ''}\n")
        self._fh.write("%" + ",".join(words) + "\n")

    def add(self, track: str, mxm_id: int, word_ids: np.ndarray, counts: np.ndarray) -> None:
        self._fh.write(track_line(track, mxm_id, word_ids, counts))

    def _finish(self, ok: bool) -> None:
        self._fh.close()


class MxmDbWriter(AtomicWriter):
    """mxm_dataset.db as MSongsDB builds it: words(word) in vocabulary order, lyrics rows per word."""

    def __init__(self, path: str | Path, words: list[str]):
        super().__init__(path)
        self.con = sqlite3.connect(self.tmp)
        self.words = words
        self.con.execute("CREATE TABLE words (word TEXT PRIMARY KEY)")
        self.con.executemany("INSERT INTO words VALUES (?)", ((w,) for w in words))
        self.con.execute("CREATE TABLE lyrics (track_id, mxm_tid INT, word TEXT, count INT, is_test INT, "
                         "FOREIGN KEY(word) REFERENCES words(word))")

    def add(self, tid: str, mxm_id: int, idx: np.ndarray, cnt: np.ndarray, is_test: bool) -> None:
        self.con.executemany("INSERT INTO lyrics VALUES (?, ?, ?, ?, ?)",
                             ((tid, mxm_id, self.words[a - 1], int(b), int(is_test)) for a, b in zip(idx, cnt)))

    def _finish(self, ok: bool) -> None:
        if ok:
            for col in ("track_id", "mxm_tid", "word", "count", "is_test"):
                self.con.execute(f"CREATE INDEX idx_{col} ON lyrics ({col})")
            self.con.commit()
        self.con.close()
