"""Stage chunk_audio and the audio shard format: frames, genuine files and traps, shards, workers."""

import json

import numpy as np
import pytest

from songsim.core.config import ChunkAudioConfig
from songsim.ingest.audio import chunk_audio, fix_frames
from songsim.ingest.audio_shards import AudioShards
from songsim.ingest.readers.msd import iter_msd_files, read_msd_file


def test_fix_frames():
    x = np.arange(10 * 12, dtype=np.float32).reshape(10, 12)
    assert np.array_equal(fix_frames(x, 4, "center", "zero"), x[3:7])
    assert np.array_equal(fix_frames(x, 4, "start", "zero"), x[:4])
    z = fix_frames(x, 12, "center", "zero")
    assert np.array_equal(z[:10], x) and not z[10:].any()
    r = fix_frames(x, 12, "center", "repeat")
    assert np.array_equal(r[10:], x[:2])


def _cfg(**kw):
    base = dict(frames=64, crop="center", pad="zero", float16=True, rows_per_shard=100, workers=1,
                max_quarantine_frac=0.05)
    base.update(kw)
    return ChunkAudioConfig(**base)


def test_chunk_audio_real_files_with_traps(realdata, tmp_path):
    rep = chunk_audio(realdata / "msd_h5", tmp_path / "audio", _cfg(max_quarantine_frac=0.5))
    assert (rep.read, rep.kept, rep.reasons) == (5, 4, {"not_msd": 1})
    t = AudioShards(tmp_path / "audio").read()
    assert t.num_rows == 4 and len(t.column("timbre")[0]) == 64 * 12
    song = read_msd_file(realdata / "msd_h5" / "TRAAABD128F429CF47.h5")[0]
    row = next(r for r in t.to_pylist() if r["track_id"] == song.track_id)
    expect = fix_frames(song.timbre, 64, "center", "zero").astype(np.float16).reshape(-1)
    assert np.array_equal(np.asarray(row["timbre"], dtype=np.float16), expect)
    assert row["n_segments"] == len(song.timbre)


def test_chunk_audio_fails_when_mostly_bad(realdata, tmp_path):
    with pytest.raises(Exception, match="max_quarantine_frac"):
        chunk_audio(realdata / "msd_h5_traps", tmp_path / "audio", _cfg())


def test_chunk_audio_shards_manifest_and_workers_agree(tiny_world, tmp_path):
    r1 = chunk_audio(tiny_world / "msd", tmp_path / "one", _cfg(rows_per_shard=40))
    r2 = chunk_audio(tiny_world / "msd", tmp_path / "two", _cfg(rows_per_shard=40, workers=2))
    man = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert man["rows"] == r1.kept == len(list(iter_msd_files(tiny_world / "msd")))
    assert all(s["rows"] <= 40 for s in man["shards"]) and len(man["shards"]) > 1
    a, b = AudioShards(tmp_path / "one").read(), AudioShards(tmp_path / "two").read()
    assert a.equals(b) and r2.kept == r1.kept
    # rewriting into the same folder leaves no stale shards
    chunk_audio(tiny_world / "msd", tmp_path / "one", _cfg(rows_per_shard=1000))
    assert len(list((tmp_path / "one").glob("part-*.parquet"))) == 1


def _die_on_second_file(args):
    import os

    from songsim.ingest import audio

    if args[0].stem.endswith(("1", "3", "5", "7", "9")):
        os._exit(9)  # what the OOM killer does to a worker
    return audio._ORIGINAL(args)


def test_a_dead_worker_fails_the_stage_clearly_instead_of_hanging(tiny_world, tmp_path, monkeypatch):
    from songsim.ingest import audio

    monkeypatch.setattr(audio, "_ORIGINAL", audio.audio_file_rows, raising=False)
    monkeypatch.setattr(audio, "audio_file_rows", _die_on_second_file)
    with pytest.raises(RuntimeError, match="a worker process died"):
        chunk_audio(tiny_world / "msd", tmp_path / "audio", _cfg(workers=2))


def test_stale_temp_files_of_a_killed_run_are_removed(tiny_world, tmp_path):
    out = tmp_path / "audio"
    out.mkdir()
    (out / ".part-00000.parquet.abc123.tmp").write_bytes(b"x" * 100)
    (out / "manifest.json").write_text("{}")  # another run's manifest
    chunk_audio(tiny_world / "msd", out, _cfg())
    assert not list(out.glob(".*.tmp"))
    assert json.loads((out / "manifest.json").read_text())["rows"] > 0
