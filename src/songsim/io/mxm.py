"""musiXmatch lyrics dataset: ``mxm_dataset_{train,test}.txt`` and ``mxm_dataset.db``.

Text grammar: ``#`` comment lines, one ``%`` line with the comma-separated vocabulary (most frequent
first), then ``track_id,mxm_track_id,idx:cnt,...`` lines with 1-based word indices. A user-edited
variant without comments and with the ``%`` stripped is accepted too: its first line is then the
vocabulary.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from songsim.io import TRACK_ID, BadRecord, FormatError


@dataclass(frozen=True)
class MxmTrack:
    track_id: str
    mxm_id: int
    word_ids: list[int]  # 1-based indices into the vocabulary, strictly increasing
    counts: list[int]  # matching counts, all >= 1
    split: str  # train | test | db:train | db:test | other
    where: str


def parse_track_line(line: str, vocab_size: int, where: str, split: str) -> MxmTrack | BadRecord:
    parts = line.rstrip("\r\n").split(",")
    if len(parts) < 2:
        return BadRecord("malformed_line", where, "fewer than two fields")
    tid, mxm = parts[0], parts[1]
    if not TRACK_ID.match(tid):
        return BadRecord("bad_track_id", where, repr(tid[:40]))
    try:
        mxm_id = int(mxm)
    except ValueError:
        return BadRecord("bad_mxm_id", where, repr(mxm[:40]))
    ids: list[int] = []
    counts: list[int] = []
    last = 0
    for item in parts[2:]:
        idx_s, sep, cnt_s = item.partition(":")
        if not sep:
            return BadRecord("malformed_pair", where, repr(item[:40]))
        try:
            idx = int(idx_s)
        except ValueError:
            return BadRecord("bad_index", where, repr(item[:40]))
        try:
            cnt = int(cnt_s)
        except ValueError:
            return BadRecord("bad_count", where, repr(item[:40]))
        if idx < 1 or idx > vocab_size:
            return BadRecord("index_out_of_vocab", where, f"{idx} not in 1..{vocab_size}")
        if idx <= last:
            return BadRecord("unsorted_or_duplicate_index", where, f"{idx} after {last}")
        if cnt < 1:
            return BadRecord("bad_count", where, f"count {cnt} for index {idx}")
        ids.append(idx)
        counts.append(cnt)
        last = idx
    return MxmTrack(tid, mxm_id, ids, counts, split, where)


def _split_of(path: Path) -> str:
    name = path.name.lower()
    return "train" if "train" in name else "test" if "test" in name else "other"


class MxmTextReader:
    """Streams one mxm text file; ``vocab`` is available after construction (header parsed)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FormatError(f"{self.path}: no such file")
        self.split = _split_of(self.path)
        self.vocab, self._body_line = self._read_header()

    def _read_header(self) -> tuple[list[str], int]:
        with open(self.path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.startswith("#") or not line.strip():
                    continue
                if line.startswith("%"):
                    return line[1:].rstrip("\r\n").split(","), lineno
                first = line.split(",", 1)[0]
                if TRACK_ID.match(first):
                    raise FormatError(f"{self.path}:{lineno}: track line before any vocabulary line")
                return line.rstrip("\r\n").split(","), lineno  # edited variant: '%' stripped
        raise FormatError(f"{self.path}: no vocabulary line found")

    def __iter__(self) -> Iterator[MxmTrack | BadRecord]:
        n = len(self.vocab)
        with open(self.path, encoding="utf-8", errors="strict") as fh:
            lineno = 0
            while True:
                lineno += 1
                try:
                    line = fh.readline()
                except UnicodeDecodeError as e:
                    raise FormatError(f"{self.path}:{lineno}: not UTF-8 ({e})") from e
                if not line:
                    break
                if lineno <= self._body_line or line.startswith("#") or not line.strip():
                    continue
                if line.startswith("%"):
                    yield BadRecord("extra_vocabulary_line", f"{self.path}:{lineno}")
                    continue
                yield parse_track_line(line, n, f"{self.path}:{lineno}", self.split)


class MxmSqliteReader:
    """Reads ``mxm_dataset.db``: ``words(word)`` (ROWID = 1-based index) and ``lyrics`` rows."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FormatError(f"{self.path}: no such file")
        self._con = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True)
        try:
            rows = self._con.execute("SELECT rowid, word FROM words ORDER BY rowid").fetchall()
        except sqlite3.DatabaseError as e:
            raise FormatError(f"{self.path}: not an mxm_dataset.db ({e})") from e
        if [r for r, _ in rows] != list(range(1, len(rows) + 1)):
            raise FormatError(f"{self.path}: words ROWIDs are not 1..N")
        self.vocab = [w for _, w in rows]
        self.split = "db"

    def __iter__(self) -> Iterator[MxmTrack | BadRecord]:
        self._index = {w: i for i, w in enumerate(self.vocab, 1)}
        cur = self._con.execute(
            "SELECT track_id, mxm_tid, word, count, is_test FROM lyrics ORDER BY track_id, is_test"
        )
        key = None
        rows: list[tuple] = []
        for row in cur:
            k = (row[0], row[4])
            if key is not None and k != key:
                yield self._track(rows)
                rows = []
            key = k
            rows.append(row)
        if rows:
            yield self._track(rows)
        self._con.close()

    def _track(self, rows: list[tuple]) -> MxmTrack | BadRecord:
        tid, mxm, _, _, is_test = rows[0]
        where = f"{self.path}:lyrics track_id={tid}"
        if not isinstance(tid, str) or not TRACK_ID.match(tid):
            return BadRecord("bad_track_id", where, repr(tid))
        index = self._index
        pairs = []
        for _, _, word, cnt, _ in rows:
            if word not in index:
                return BadRecord("word_not_in_vocab", where, repr(word))
            if not isinstance(cnt, int) or cnt < 1:
                return BadRecord("bad_count", where, repr(cnt))
            pairs.append((index[word], cnt))
        pairs.sort()
        ids = [i for i, _ in pairs]
        if len(set(ids)) != len(ids):
            return BadRecord("unsorted_or_duplicate_index", where, "a word appears twice")
        return MxmTrack(tid, int(mxm), ids, [c for _, c in pairs], "db:test" if is_test else "db:train", where)


class MxmReader:
    """A file, a ``.db``, or a folder of ``mxm_dataset*.txt`` files sharing one vocabulary."""

    def __init__(self, path: str | Path):
        p = Path(path)
        if p.suffix == ".db":
            self.readers = [MxmSqliteReader(p)]
        elif p.is_dir():
            files = sorted(p.glob("mxm_dataset*.txt"))
            if not files:
                raise FormatError(f"{p}: no mxm_dataset*.txt files in this folder")
            self.readers = [MxmTextReader(f) for f in files]
        else:
            self.readers = [MxmTextReader(p)]
        self.vocab = self.readers[0].vocab
        for r in self.readers[1:]:
            if r.vocab != self.vocab:
                raise FormatError(f"{r.path}: vocabulary differs from {self.readers[0].path}")

    def __iter__(self) -> Iterator[MxmTrack | BadRecord]:
        for r in self.readers:
            yield from r
