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

from songsim.ingest.readers import BadRecord, FormatError, connect_readonly, is_track_id

MAX_COUNT = 10**6  # one word this many times in one song is bad input, not lyrics
MAX_WORDS = 10**6  # nor are this many words in one song
MAX_MXM_ID = 2**63 - 1  # the musiXmatch id must fit int64


@dataclass(frozen=True)
class MxmTrack:
    track_id: str
    mxm_id: int
    word_ids: list[int]  # 1-based indices into the vocabulary, strictly increasing
    counts: list[int]  # matching counts, all >= 1
    split: str  # train | test | db:train | db:test | other
    where: str


def parse_track_line(line: str, vocab_size: int, where: str, split: str) -> MxmTrack | BadRecord:
    """One ``track_id,mxm_id,idx:cnt,...`` line; any problem is a :class:`BadRecord` naming the line."""
    try:
        return _parse_track_line(line, vocab_size, where, split)
    except Exception as e:  # noqa: BLE001 - one bad line must not end the stage
        return BadRecord("unexpected_error", where, f"{type(e).__name__}: {e}"[:300])


def _parse_track_line(line: str, vocab_size: int, where: str, split: str) -> MxmTrack | BadRecord:
    parts = line.rstrip("\r\n").split(",")
    if len(parts) < 2:
        return BadRecord("malformed_line", where, "fewer than two fields")
    tid, mxm = parts[0], parts[1]
    if not is_track_id(tid):
        return BadRecord("bad_track_id", where, repr(tid[:40]))
    try:
        mxm_id = int(mxm)
    except ValueError:
        return BadRecord("bad_mxm_id", where, repr(mxm[:40]))
    if not 0 <= mxm_id <= MAX_MXM_ID:
        return BadRecord("bad_mxm_id", where, f"{mxm[:40]} outside 0..2^63-1")
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
        if not 1 <= cnt <= MAX_COUNT:
            return BadRecord("bad_count", where, f"count {cnt} for index {idx} (allowed 1..{MAX_COUNT})")
        ids.append(idx)
        counts.append(cnt)
        last = idx
    if sum(counts) > MAX_WORDS:
        return BadRecord("bad_count", where, f"{sum(counts)} words in one song (allowed up to {MAX_WORDS})")
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
        lineno = 0
        try:
            with open(self.path, encoding="utf-8-sig") as fh:  # -sig: a leading byte-order mark is not text
                for lineno, line in enumerate(fh, 1):
                    got = self._header_line(line, lineno)
                    if got is not None:
                        return got, lineno
        except UnicodeDecodeError as e:
            raise FormatError(f"{self.path}:{lineno + 1}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        raise FormatError(f"{self.path}: no vocabulary line found")

    def _header_line(self, line: str, lineno: int) -> list[str] | None:
        """The vocabulary if ``line`` is the vocabulary line, None for a comment or blank line."""
        if line.startswith("#") or not line.strip():
            return None
        if line.startswith("%"):
            return line[1:].rstrip("\r\n").split(",")
        if is_track_id(line.split(",", 1)[0]):
            raise FormatError(f"{self.path}:{lineno}: track line before any vocabulary line")
        return line.rstrip("\r\n").split(",")  # edited variant: '%' stripped

    def __iter__(self) -> Iterator[MxmTrack | BadRecord]:
        n = len(self.vocab)
        with open(self.path, encoding="utf-8-sig", errors="strict") as fh:
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
        self._con = connect_readonly(self.path)
        try:
            rows = self._con.execute("SELECT rowid, word FROM words ORDER BY rowid").fetchall()
            self._con.execute("SELECT track_id, mxm_tid, word, count, is_test FROM lyrics LIMIT 0")
        except sqlite3.DatabaseError as e:
            raise FormatError(f"{self.path}: not an mxm_dataset.db ({e})") from e
        if any(not isinstance(w, str) for _, w in rows):
            raise FormatError(f"{self.path}: words.word holds a value that is not text")
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
        where = f"{self.path}:lyrics track_id={str(rows[0][0])[:40]}"
        try:
            return self._parse(rows, where)
        except Exception as e:  # noqa: BLE001 - one bad track must not end the stage
            return BadRecord("unexpected_error", where, f"{type(e).__name__}: {e}"[:300])

    def _parse(self, rows: list[tuple], where: str) -> MxmTrack | BadRecord:
        tid, mxm, _, _, is_test = rows[0]
        if not is_track_id(tid):
            return BadRecord("bad_track_id", where, repr(tid)[:80])
        if isinstance(mxm, bool) or not isinstance(mxm, int) or not 0 <= mxm <= MAX_MXM_ID or any(
                r[1] != mxm for r in rows):
            return BadRecord("bad_mxm_id", where, repr(mxm)[:80])
        index = self._index
        pairs = []
        for _, _, word, cnt, _ in rows:
            if not isinstance(word, str) or word not in index:
                return BadRecord("word_not_in_vocab", where, repr(word)[:80])
            if isinstance(cnt, bool) or not isinstance(cnt, int) or not 1 <= cnt <= MAX_COUNT:
                return BadRecord("bad_count", where, repr(cnt)[:80])
            pairs.append((index[word], cnt))
        pairs.sort()
        ids = [i for i, _ in pairs]
        if len(set(ids)) != len(ids):
            return BadRecord("unsorted_or_duplicate_index", where, "a word appears twice")
        if sum(c for _, c in pairs) > MAX_WORDS:
            return BadRecord("bad_count", where, f"more than {MAX_WORDS} words in one song")
        return MxmTrack(tid, mxm, ids, [c for _, c in pairs], "db:test" if is_test else "db:train", where)


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


def read_reverse_mapping(path: str | Path) -> dict[str, str]:
    """musiXmatch's ``mxm_reverse_mapping.txt``: one ``stem<SEP>word`` per line -> ``{stem: word}``."""
    out: dict[str, str] = {}
    p = Path(path)
    with open(p, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n").lstrip("\ufeff")
            if not line:
                continue
            stem, sep, word = line.partition("<SEP>")
            if not sep or not stem or not word:
                raise FormatError(f"{p}:{lineno}: expected stem<SEP>word, got {line[:80]!r}")
            if out.get(stem, word) != word:
                raise FormatError(f"{p}:{lineno}: stem {stem!r} maps to {out[stem]!r} and to {word!r}")
            out[stem] = word
    return out
