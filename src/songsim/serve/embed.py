"""Stage embed@<model>: a vector for every song of the catalog that the model can encode.

The catalog is every song of the lyrics table and of the audio shards, not only songs that appear in
Last.fm pairs: a song nobody listened to gets a vector too (the cold-start case). Songs are streamed in
batches (one audio shard, or ``batch_size`` lyrics rows, at a time), so memory stays flat as the catalog
grows. A song lacking a modality the model needs is counted in the report (``no_lyrics``,
``no_audio``), never skipped silently: ``read`` (the catalog) = ``kept`` (encoded) + ``dropped``. A model
that stands in for a missing modality (``ModelSpec.partial``: fused) encodes every song with either, and
the report counts how many had only one (``lyrics_only``, ``audio_only``).

Output: ``<embeddings>/<model>/part-*.parquet`` (``track_id``, fixed-size float32 ``vector``) and
``manifest.json`` (model, checkpoint sha256, dim, vector blocks, ranking weights, the calibration of the
ranking score, count): what serving needs besides the vectors, so serving a catalog song needs no torch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from songsim.core import schemas
from songsim.core.checkpoint import load_checkpoint, model_spec, pick_device
from songsim.core.config import section
from songsim.core.report import StageReport
from songsim.core.schemas import N_FEAT
from songsim.core.writers import ShardWriter, file_sha256
from songsim.ingest.audio_shards import AudioShards
from songsim.learn.data import SongTable, lyrics_arrays, lyrics_columns, lyrics_rows
from songsim.learn.inference import encode_songs
from songsim.models.registry import ModelSpec

log = logging.getLogger(__name__)

ROWS_PER_SHARD = 50_000  # vectors per output shard


def _lyrics_of(lyrics_path: str | Path, ids: list[str], columns: list[str]):
    return pq.read_table(lyrics_path, columns=columns, filters=pc.field("track_id").isin(ids))


def catalog_batches(spec: ModelSpec, lyrics_path: str | Path, audio_dir: str | Path, batch_size: int,
                    report: StageReport, bag_words: int = 0) -> Iterator[SongTable]:
    """The catalog songs ``spec`` can encode, as song tables of at most ``batch_size`` (lyrics) or one
    shard (audio) rows; songs it cannot encode are counted in ``report`` as dropped. ``bag_words``: which
    lyrics input, as ``learn.data.lyrics_arrays``."""
    columns = lyrics_columns(bag_words)
    shards = AudioShards(audio_dir)
    n_lyrics = pq.ParquetFile(lyrics_path).metadata.num_rows
    with_both = 0
    if spec.partial:
        yield from _partial_batches(lyrics_path, shards, columns, batch_size, report, bag_words)
        return
    if spec.uses_audio:
        for ids, audio in shards.iter_shards():
            if not spec.uses_lyrics:
                with_both += _lyrics_of(lyrics_path, ids, ["track_id"]).num_rows
                report.keep(len(ids))
                yield SongTable(ids, None, None, audio)
                continue
            t = _lyrics_of(lyrics_path, ids, columns)
            have = {tid: i for i, tid in enumerate(t.column("track_id").to_pylist())}
            rows = [k for k, tid in enumerate(ids) if tid in have]
            report.drop("no_lyrics", len(ids) - len(rows))
            if not rows:
                continue
            both = [ids[k] for k in rows]
            tokens, lengths, counts = lyrics_arrays(t, np.array([have[x] for x in both], dtype=np.int64), bag_words)
            with_both += len(both)
            report.keep(len(both))
            yield SongTable(both, tokens, lengths, audio[rows], counts)
        report.drop("no_audio", n_lyrics - with_both)  # lyrics-only songs
        return
    for batch in pq.ParquetFile(lyrics_path).iter_batches(batch_size, columns=columns):
        t = pa.Table.from_batches([batch])
        tokens, lengths, counts = lyrics_arrays(t, np.arange(len(t)), bag_words)
        report.keep(len(t))
        yield SongTable(t.column("track_id").to_pylist(), tokens, lengths, None, counts)
    for ids, _ in shards.iter_shards():  # audio-only songs
        report.drop("no_lyrics", len(ids) - _lyrics_of(lyrics_path, ids, ["track_id"]).num_rows)


def _partial_batches(lyrics_path: str | Path, shards: AudioShards, columns: list[str], batch_size: int,
                     report: StageReport, bag_words: int) -> Iterator[SongTable]:
    """Every song with audio (one shard at a time, with its lyrics where it has them), then every song
    with lyrics only: song tables with ``has_lyrics``/``has_audio`` masks."""
    audio_ids: list[pa.Array] = []
    only = {"lyrics_only": 0, "audio_only": 0}
    for ids, audio in shards.iter_shards():
        audio_ids.append(pa.array(ids, pa.string()))
        tokens, lengths, counts, mask = lyrics_rows(_lyrics_of(lyrics_path, ids, columns), ids, bag_words)
        only["audio_only"] += int((~mask).sum())
        report.keep(len(ids))
        yield SongTable(ids, tokens, lengths, audio, counts, mask, np.ones(len(ids), dtype=bool))
    with_audio = pa.chunked_array(audio_ids, pa.string()).combine_chunks() if audio_ids else pa.array([], pa.string())
    frames = shards.frames
    for batch in pq.ParquetFile(lyrics_path).iter_batches(batch_size, columns=columns):
        t = pa.Table.from_batches([batch])
        t = t.filter(pc.invert(pc.is_in(t.column("track_id"), value_set=with_audio)))
        if not len(t):
            continue
        tokens, lengths, counts = lyrics_arrays(t, np.arange(len(t)), bag_words)
        only["lyrics_only"] += len(t)
        report.keep(len(t))
        audio = np.zeros((len(t), 2 * N_FEAT, frames), dtype=np.float16)
        yield SongTable(t.column("track_id").to_pylist(), tokens, lengths, audio, counts,
                        np.ones(len(t), dtype=bool), np.zeros(len(t), dtype=bool))
    report.extra.update(only)


def embed(name: str, ckpt: str | Path, lyrics_path: str | Path, audio_dir: str | Path, out_dir: str | Path,
          batch_size: int, device_name: str, amp: bool) -> StageReport:
    """Encode the catalog with model ``name``'s checkpoint; writes the shards and their manifest."""
    spec = model_spec(name)
    device = pick_device(device_name)
    model, state = load_checkpoint(ckpt, device)
    model.eval()
    blocks = model.vector_blocks()
    dim = int(sum(blocks))
    report = StageReport(f"embed.{name}", unit="songs")
    writer = ShardWriter(out_dir, schemas.embedding_schema(dim), ROWS_PER_SHARD)
    use_amp = amp and device.type == "cuda"
    for songs in tqdm(catalog_batches(spec, lyrics_path, audio_dir, batch_size, report, spec.bag_words(model.cfg)),
                      desc=f"embed {name}",
                      unit="batch", mininterval=2):
        vecs = encode_songs(model, songs, np.arange(len(songs)), batch_size, device, use_amp).cpu().numpy()
        for tid, v in zip(songs.track_ids, vecs):
            writer.add({"track_id": tid, "vector": v})
    manifest = writer.write_manifest({"model": name, "checkpoint_sha256": file_sha256(ckpt), "dim": dim,
                                      "blocks": blocks, "rank_weights": model.rank_weights().tolist(),
                                      "calibration": state.get("calibration"), "count": report.kept})
    report.extra.update({"dim": dim, "shards": len(manifest["shards"]), "device": str(device)})
    log.info("embed %s: %d songs encoded, dropped %s", name, report.kept, dict(report.drops))
    return report


def run(params: dict, model: str) -> dict:
    """The DVC stage ``embed@<model>``: checkpoint + lyrics table + audio shards -> catalog vectors."""
    paths, tcfg, rcfg = section(params, "paths"), section(params, "train"), section(params, "retrieval")
    files = paths.model_files(model)
    rep = embed(model, files["ckpt"], paths.lyrics, paths.audio, files["embeddings"], rcfg.batch_size,
                tcfg.device, tcfg.amp)
    return rep.write(paths.report(f"embed_{model}"))
