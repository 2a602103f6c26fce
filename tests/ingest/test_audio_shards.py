"""The audio shard format: what the writer writes the reader gives back, frames from the stored metadata."""

import json

import numpy as np
import pytest

from songsim.core import schemas
from songsim.core.writers import ParquetStreamWriter
from songsim.ingest.audio_shards import AudioShards, AudioShardWriter, read_artists


def _rows(n, frames, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield {"track_id": f"TR{i:016d}", "timbre": rng.normal(size=frames * 12).astype(np.float16),
               "chroma": rng.uniform(size=frames * 12).astype(np.float16), "n_segments": 100 + i,
               "duration": 200.0, "tempo": 120.0, "key": i % 12, "mode": i % 2, "loudness": -9.0}


def _write(d, n=7, frames=16, rows_per_shard=3):
    w = AudioShardWriter(d, frames, True, rows_per_shard)
    rows = list(_rows(n, frames))
    for r in rows:
        w.add(r)
    return w.close(), rows


def test_writer_reader_roundtrip(tmp_path):
    manifest, rows = _write(tmp_path / "a")
    assert manifest["rows"] == 7 and len(manifest["shards"]) == 3 and manifest["frames"] == 16
    shards = AudioShards(tmp_path / "a")
    assert shards.frames == 16 and shards.track_ids() == {r["track_id"] for r in rows}
    ids = [rows[5]["track_id"], rows[0]["track_id"]]  # any order, across shards
    audio = shards.audio(ids)
    assert audio.shape == (2, 24, 16) and audio.dtype == np.float16
    for k, r in zip((0, 1), (rows[5], rows[0])):
        np.testing.assert_array_equal(audio[k, :12], r["timbre"].reshape(16, 12).T)
        np.testing.assert_array_equal(audio[k, 12:], r["chroma"].reshape(16, 12).T)
    assert shards.read(ids[:1]).num_rows == 1


def test_frames_come_from_the_schema_without_a_manifest(tmp_path):
    _write(tmp_path / "a", frames=8)
    (tmp_path / "a" / "manifest.json").unlink()
    assert AudioShards(tmp_path / "a").frames == 8
    assert AudioShards(tmp_path / "a").audio(["TR0000000000000001"]).shape == (1, 24, 8)


def test_manifest_frames_win_and_errors_name_the_folder(tmp_path):
    _write(tmp_path / "a", frames=8)
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["dtype"] == "float16"
    with pytest.raises(KeyError, match="have no audio in"):
        AudioShards(tmp_path / "a").audio(["TRNOPE"])
    with pytest.raises(FileNotFoundError, match="no part-"):
        AudioShards(tmp_path / "empty")


def test_audio_in_any_order_with_repeats_and_memory_of_the_answer_plus_a_shard(tmp_path):
    import tracemalloc

    _, rows = _write(tmp_path / "a", n=400, frames=32, rows_per_shard=20)
    shards = AudioShards(tmp_path / "a")
    ids = [r["track_id"] for r in rows][::-1] + [rows[3]["track_id"]]
    tracemalloc.start()
    audio = shards.audio(ids)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(audio[0, :12], rows[-1]["timbre"].reshape(32, 12).T)
    np.testing.assert_array_equal(audio[-1], audio[len(rows) - 1 - 3])  # a repeated id, answered twice
    # the answer is 401 x 24 x 32 float16 (0.6 MB); one shard's arrays are 20 rows (30 KB) a copy
    assert peak < 2.2 * audio.nbytes, (peak, audio.nbytes)


def test_read_artists_reads_what_chunk_audio_writes(tmp_path):
    path = tmp_path / "songs.parquet"
    w = ParquetStreamWriter(path, schemas.SONGS)
    w.write({"track_id": ["TRA", "TRB", "TRC", "TRD"], "artist_id": ["AR1", None, "AR1", "AR2"],
             "artist": ["x", None, "x", "y"], "title": [None] * 4, "year": [None, 1999, None, None]})
    w.close()
    assert read_artists(path) == {"TRA": "AR1", "TRC": "AR1", "TRD": "AR2"}  # no artist id: left out
    assert read_artists(path, ["TRD", "TRB", "TRX"]) == {"TRD": "AR2"}  # only the asked rows; unknown: absent
    assert read_artists(path, []) == {}
