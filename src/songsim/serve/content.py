"""Songs asked about by their content, not by a catalog id: plain-text lyrics, a musiXmatch bag-of-words
line, an MSD track file (``.h5``), alone or together.

- **Lyrics text** is tokenised and stemmed the way the musiXmatch words are: lower case, words of letters,
  digits, apostrophes and hyphens, a final ``n't`` read as the word ``not`` (the official map gives
  ``don't`` for the stem ``not``), the other ASCII apostrophes and the hyphens dropped (``hip-hop`` is the
  stem ``hiphop``), typographic apostrophes kept (the vocabulary has ``don’t`` apart), then the Snowball
  English (Porter2) stemmer. On the official stem -> word map (``mxm_reverse_mapping.txt``) this gives
  back the stem for the figure ``tests/serve/test_content.py`` asserts on ``../shared/realdata``; the
  misses are mis-encoded punctuation. Stems outside the vocabulary are counted and reported, never silently lost.
- **A bag-of-words line** is a line of ``mxm_dataset_*.txt`` (``TRACK_ID,MXM_ID,idx:cnt,...``) or its
  ``idx:cnt,...`` part alone, checked by the reader ``expand_lyrics`` uses.
- **An MSD file** goes through :func:`songsim.ingest.audio.audio_file_rows`, with every guard of
  ``chunk_audio`` (unsafe links and storage, oversized chunks, non-finite features) and its crop and pad.

Nothing a query brings is written to the catalog: an uploaded file lives in a temporary folder only while
it is read. Every refusal is a :class:`ContentError` whose ``kind`` names the problem.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from songsim.core.config import ChunkAudioConfig
from songsim.core.schemas import N_FEAT
from songsim.ingest.audio import audio_file_rows
from songsim.ingest.readers import BadRecord, is_track_id
from songsim.ingest.readers.mxm import parse_track_line

MAX_LYRICS_BYTES = 200_000  # a song's lyrics are a few KB; the longest real ones well under this
MAX_H5_BYTES = 8 * 2**20  # MSD track files are a few hundred KB
QUERY_ID = "TRQUERY00000000000"  # stands for the asked song where a reader wants a track id
_TOKEN = re.compile(r"[\w'’´`-]+")


class ContentError(ValueError):
    """Content a query cannot use: ``kind`` names the problem (a stable name), the message says where."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class Bag:
    """A song's words as the lyrics table holds them: vocabulary ids (1-based, increasing) and counts."""

    word_ids: list[int]
    counts: list[int]
    report: dict = field(default_factory=dict)  # what was read, mapped and left out


@dataclass
class Audio:
    """A song's audio as one ``chunk_audio`` shard row (``timbre``/``chroma`` flat ``(T * 12,)``, tempo,
    key, mode, ...) and its metadata row."""

    row: dict
    meta: dict

    def frames(self, frames: int) -> np.ndarray:
        """``(24, T)``: 12 timbre then 12 chroma channels, as ``AudioShards.audio`` gives catalog songs."""
        parts = [np.asarray(self.row[k]).reshape(frames, N_FEAT) for k in ("timbre", "chroma")]
        return np.ascontiguousarray(np.concatenate(parts, axis=1).T)


@dataclass
class Content:
    bag: Bag | None = None
    audio: Audio | None = None

    def modalities(self) -> list[str]:
        return [m for m, x in (("lyrics", self.bag), ("audio", self.audio)) if x is not None]


def decode_text(data: bytes, where: str) -> str:
    """UTF-8 text of at most ``MAX_LYRICS_BYTES``, or a ContentError naming the problem and where."""
    if len(data) > MAX_LYRICS_BYTES:
        raise ContentError("too_large", f"{where}: {len(data):,} bytes of text; at most {MAX_LYRICS_BYTES:,}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ContentError("not_utf8", f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None


class Vocabulary:
    """The catalog's musiXmatch vocabulary (``paths.vocab``: id, stem), to read query lyrics with."""

    def __init__(self, vocab_path: str | Path):
        t = pq.read_table(vocab_path, columns=["id", "word"])
        self.size = t.num_rows
        self.ids = dict(zip(t.column("word").to_pylist(), t.column("id").to_pylist()))
        import snowballstemmer

        self._stem = snowballstemmer.stemmer("english").stemWord

    def stems(self, text: str) -> list[str]:
        """The musiXmatch-style stems of ``text``, in order."""
        out = []
        for tok in _TOKEN.findall(text.lower()):
            tok = tok.strip("'-_")
            tail = []
            if len(tok) > 3 and tok.endswith("n't"):  # musiXmatch: don't -> do + not (typographic ’ kept as is)
                tok, tail = tok[:-3], ["not"]
            tok = tok.replace("'", "").replace("-", "").replace("_", "")  # i'm -> im, hip-hop -> hiphop
            out += ([self._stem(tok)] if tok else []) + tail
        return out

    def from_text(self, text: str, where: str = "lyrics") -> Bag:
        """A bag of words from plain-text lyrics; the stems the vocabulary lacks are counted in the report."""
        if len(text.encode("utf-8", errors="replace")) > MAX_LYRICS_BYTES:
            raise ContentError("too_large", f"{where}: over {MAX_LYRICS_BYTES:,} bytes of text")
        stems = self.stems(text)
        if not stems:
            raise ContentError("empty_lyrics", f"{where}: no words in the text")
        known = Counter(self.ids[s] for s in stems if s in self.ids)
        unknown = Counter(s for s in stems if s not in self.ids)
        if not known:
            raise ContentError("no_known_words", f"{where}: none of its {len(stems)} words is in the "
                               f"{self.size:,}-word musiXmatch vocabulary (e.g. {', '.join(list(unknown)[:5])})")
        ids = sorted(known)
        return Bag(ids, [known[i] for i in ids],
                   {"source": "text", "words": len(stems), "in_vocabulary": sum(known.values()),
                    "not_in_vocabulary": sum(unknown.values()), "distinct_not_in_vocabulary": len(unknown),
                    "examples_not_in_vocabulary": [w for w, _ in unknown.most_common(10)]})

    def from_bow(self, line: str, where: str = "bow") -> Bag:
        """A bag from a musiXmatch line (``TRACK_ID,MXM_ID,idx:cnt,...``) or its ``idx:cnt,...`` part."""
        line = line.strip()
        if len(line) > MAX_LYRICS_BYTES:
            raise ContentError("too_large", f"{where}: {len(line):,} characters; at most {MAX_LYRICS_BYTES:,}")
        if "\n" in line:
            raise ContentError("bad_bow", f"{where}: one musiXmatch line expected, got several")
        if not line:
            raise ContentError("empty_lyrics", f"{where}: the bag holds no words")
        full = line if is_track_id(line.split(",", 1)[0]) else f"{QUERY_ID},0,{line}"
        rec = parse_track_line(full, self.size, where, "query")
        if isinstance(rec, BadRecord):
            raise ContentError("bad_bow", f"{where}: {rec.reason}" + (f" ({rec.detail})" if rec.detail else ""))
        if not rec.word_ids:
            raise ContentError("empty_lyrics", f"{where}: the bag holds no words")
        return Bag(list(rec.word_ids), list(rec.counts),
                   {"source": "bow", "words": int(sum(rec.counts)), "distinct": len(rec.word_ids)}
                   | ({"track_id": rec.track_id} if rec.track_id != QUERY_ID else {}))


def read_h5(data: bytes | str | Path, cfg: ChunkAudioConfig, where: str = "h5") -> Audio:
    """One song's audio from an MSD track file (a path, or the bytes of an upload), through every guard
    ``chunk_audio`` applies; a file holding several songs (an aggregate file) is refused."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise ContentError("bad_h5", f"{where}: no such file")
        if path.stat().st_size > MAX_H5_BYTES:
            raise ContentError("too_large", f"{where}: {path.stat().st_size:,} bytes; at most {MAX_H5_BYTES:,}")
        got = audio_file_rows((path, cfg))
    else:
        if len(data) > MAX_H5_BYTES:
            raise ContentError("too_large", f"{where}: {len(data):,} bytes; at most {MAX_H5_BYTES:,}")
        with tempfile.TemporaryDirectory(prefix="songsim-query-") as tmp:  # gone once read
            path = Path(tmp) / "query.h5"
            path.write_bytes(data)
            got = audio_file_rows((path, cfg))
    bad = [r for r in got if isinstance(r, BadRecord)]
    if bad:
        detail = f" ({bad[0].detail})" if bad[0].detail else ""
        raise ContentError("bad_h5", f"{where}: not a usable MSD track file: {bad[0].reason}{detail}")
    if len(got) != 1:
        raise ContentError("bad_h5", f"{where}: holds {len(got)} songs; give the file of one track")
    row, meta = got[0]
    return Audio(row, meta)
