"""Stage expand_lyrics: musiXmatch bags of words (``mxm_dataset_*.txt`` or ``mxm_dataset.db``) -> padded word
sequences (``lyrics.parquet``) and the vocabulary (``vocab.parquet``), streamed."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from songsim.core import schemas
from songsim.core.config import ExpandLyricsConfig, section
from songsim.core.report import StageReport
from songsim.core.writers import ParquetStreamWriter, clean_stale_temps, write_table
from songsim.ingest.readers import BadRecord
from songsim.ingest.readers.mxm import MxmReader

log = logging.getLogger(__name__)


def expand_tokens(word_ids: Iterable[int], counts: Iterable[int], max_len: int,
                  rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
    """Bag of words -> a word sequence: each word repeated ``count`` times, in vocabulary order
    (DeepPlaylist) or in a shuffled order when ``rng`` is given; truncated and 0-padded to ``max_len``."""
    seq = np.repeat(np.asarray(list(word_ids), dtype=np.int16), np.asarray(list(counts), dtype=np.int64))
    if rng is not None:
        rng.shuffle(seq)
    n = min(len(seq), max_len)
    out = np.zeros(max_len, dtype=np.int16)
    out[:n] = seq[:n]
    return out, n


def expand_lyrics(mxm: str | Path, out_path: str | Path, vocab_path: str | Path,
                  cfg: ExpandLyricsConfig) -> StageReport:
    """musiXmatch bags of words -> ``lyrics.parquet`` (padded token sequences + sparse counts)."""
    report = StageReport("expand_lyrics", unit="tracks")
    reader = MxmReader(mxm)
    if len(reader.vocab) > np.iinfo(np.int16).max:
        raise ValueError(f"{mxm}: vocabulary of {len(reader.vocab)} words does not fit int16 token ids")
    clean_stale_temps(Path(out_path).parent)
    seen: set[str] = set()
    truncated = 0
    cols: dict[str, list] = {k: [] for k in schemas.LYRICS.names}
    total_len = 0
    with ParquetStreamWriter(out_path, schemas.LYRICS) as out:
        for rec in tqdm(reader, desc="expand_lyrics", unit="track", mininterval=2):
            if isinstance(rec, BadRecord):
                report.quarantine(rec.reason, str(rec))
                continue
            if rec.track_id in seen:
                report.quarantine("duplicate_track_id", rec.where)
                continue
            if not rec.word_ids:
                report.quarantine("empty_lyrics", rec.where)
                continue
            seen.add(rec.track_id)
            rng = (np.random.default_rng([cfg.seed, zlib.crc32(rec.track_id.encode())])
                   if cfg.word_order == "shuffle" else None)
            tokens, n = expand_tokens(rec.word_ids, rec.counts, cfg.max_len, rng)
            truncated += int(sum(rec.counts) > cfg.max_len)
            total_len += n
            for k, v in (("track_id", rec.track_id), ("mxm_id", rec.mxm_id), ("split", rec.split),
                         ("tokens", tokens), ("length", n), ("word_ids", rec.word_ids), ("counts", rec.counts)):
                cols[k].append(v)
            report.keep()
            if len(cols["track_id"]) >= 10_000:
                out.write(cols)
                cols = {k: [] for k in schemas.LYRICS.names}
        out.write(cols)
        report.extra.update({
            "vocab_size": len(reader.vocab),
            "truncated_tracks": truncated,
            "mean_length": round(total_len / report.kept, 2) if report.kept else 0.0,
        })
        report.check(cfg.max_quarantine_frac)  # inside the writer: a failing run leaves no lyrics table
    # the vocabulary only once the lyrics table is written: a failed run leaves neither
    write_table(pa.table({"id": pa.array(range(1, len(reader.vocab) + 1), pa.int16()),
                          "word": reader.vocab}), vocab_path, schemas.VOCAB)
    return report


def run(params: dict) -> dict:
    """The DVC stage: ``raw.mxm`` -> ``paths.lyrics`` and ``paths.vocab`` + its report."""
    paths, raw = section(params, "paths"), section(params, "raw")
    rep = expand_lyrics(raw.mxm, paths.lyrics, paths.vocab, section(params, "expand_lyrics"))
    return rep.write(paths.report("expand_lyrics"))
