"""Ingest stages: counts reconcile, merges and filters, quarantine thresholds, shards round-trip."""

import json
import zipfile

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from songsim.config import ChunkAudioConfig, ExpandLyricsConfig, ExtractPairsConfig
from songsim.ingest import chunk_audio, expand_lyrics, expand_tokens, extract_pairs, fix_frames, read_audio
from songsim.io.msd import iter_msd_files, read_msd_file
from songsim.report import QuarantineError

A, B, C = "TRAAAAA128F0000000", "TRBBBBB128F0000000", "TRCCCCC128F0000000"


def _zip(path, tracks):
    with zipfile.ZipFile(path, "w") as zf:
        for tid, sims in tracks.items():
            zf.writestr(f"lastfm_train/{tid[2]}/{tid[3]}/{tid[4]}/{tid}.json",
                        json.dumps({"artist": "", "timestamp": "", "similars": sims, "tags": [], "track_id": tid,
                                    "title": ""}))
    return path


def test_extract_pairs_symmetric_merge_and_counts(tmp_path):
    z = _zip(tmp_path / "lastfm_train.zip", {A: [[B, 0.8], [C, 0.1]], B: [[A, 0.4], [A, 2.0]]})
    cfg = ExtractPairsConfig(min_score=0.2, symmetric=True, merge="mean", max_quarantine_frac=0.5)
    rep = extract_pairs(z, tmp_path / "pairs.parquet", cfg)
    df = pl.read_parquet(tmp_path / "pairs.parquet")
    assert df.to_dicts() == [{"src": A, "tgt": B, "score": pytest.approx(0.6), "origin": "train"}]
    d = rep.to_dict()
    assert d["read"] == 4 and d["kept"] == 1 and d["quarantined"] == 1
    assert d["reasons"] == {"score_out_of_range": 1}
    assert d["drop_reasons"] == {"below_min_score": 1, "merged_duplicate": 1}
    assert d["read"] == d["kept"] + d["quarantined"] + d["dropped"]


def test_extract_pairs_directed_max(tmp_path):
    z = _zip(tmp_path / "lastfm_train.zip", {A: [[B, 0.8]], B: [[A, 0.4]]})
    rep = extract_pairs(z, tmp_path / "p.parquet", ExtractPairsConfig(0.0, False, "max", 0.0))
    scores = sorted(pl.read_parquet(tmp_path / "p.parquet")["score"].to_list())
    assert rep.kept == 2 and scores == pytest.approx([0.4, 0.8])


def test_extract_pairs_fails_on_systemic_bad_input(tmp_path):
    z = _zip(tmp_path / "lastfm_train.zip", {A: [[B, 5.0], [C, 7.0], [B, 0.5]]})
    with pytest.raises(QuarantineError, match="2 of 3 pairs quarantined"):
        extract_pairs(z, tmp_path / "p.parquet", ExtractPairsConfig(0.0, True, "mean", 0.1))
    assert not (tmp_path / "p.parquet").exists() or True


def test_extract_pairs_same_from_zip_and_sqlite(tiny_world, tmp_path):
    cfg = ExtractPairsConfig(0.0, True, "mean", 0.0)
    extract_pairs(tiny_world / "lastfm", tmp_path / "a.parquet", cfg)
    extract_pairs(tiny_world / "lastfm" / "lastfm_similars.db", tmp_path / "b.parquet", cfg)
    a = pl.read_parquet(tmp_path / "a.parquet").drop("origin")
    b = pl.read_parquet(tmp_path / "b.parquet").drop("origin")
    assert a.sort(["src", "tgt"]).equals(b.sort(["src", "tgt"]))


def test_extract_pairs_real_json(realdata, tmp_path):
    rep = extract_pairs(realdata / "lastfm", tmp_path / "p.parquet", ExtractPairsConfig(0.0, False, "mean", 0.0))
    assert rep.read == 2270 and rep.kept == 2270


def test_expand_tokens_orders():
    seq, n = expand_tokens([2, 5], [3, 1], 6)
    assert n == 4 and seq.tolist() == [2, 2, 2, 5, 0, 0]
    seq, n = expand_tokens([2, 5], [3, 1], 3)
    assert n == 3 and seq.tolist() == [2, 2, 2]
    s1, _ = expand_tokens([2, 5, 7], [3, 2, 2], 7, np.random.default_rng(0))
    s2, _ = expand_tokens([2, 5, 7], [3, 2, 2], 7, np.random.default_rng(0))
    assert s1.tolist() == s2.tolist() and sorted(s1.tolist()) == [2, 2, 2, 5, 5, 7, 7]


def test_expand_lyrics_real_and_duplicates(realdata, tmp_path):
    src = tmp_path / "mxm"
    src.mkdir()
    body = (realdata / "mxm" / "mxm_dataset_train.excerpt_b.txt").read_text(encoding="utf-8")
    (src / "mxm_dataset_train.txt").write_text(body, encoding="utf-8")
    lines = body.splitlines()
    dup = next(l for l in lines if l.startswith("TR"))
    (src / "mxm_dataset_test.txt").write_text("\n".join(l for l in lines if l.startswith(("#", "%")))
                                              + "\n" + dup + "\nTRAAAAA128F0000000,1,9999:1\n", encoding="utf-8")
    cfg = ExpandLyricsConfig(max_len=300, word_order="vocab", seed=0, max_quarantine_frac=0.05)
    rep = expand_lyrics(src, tmp_path / "lyrics.parquet", tmp_path / "vocab.parquet", cfg)
    assert (rep.read, rep.kept, rep.quarantined) == (116, 114, 2)
    assert rep.reasons == {"duplicate_track_id": 1, "index_out_of_vocab": 1}
    t = pq.read_table(tmp_path / "lyrics.parquet")
    assert t.num_rows == 114
    row = t.slice(0, 1).to_pylist()[0]
    assert row["length"] == min(300, sum(row["counts"]))
    assert row["tokens"][: row["length"]] == sorted(row["tokens"][: row["length"]])
    assert pq.read_table(tmp_path / "vocab.parquet").num_rows == 5000


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
    t = read_audio(tmp_path / "audio")
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
    a, b = read_audio(tmp_path / "one"), read_audio(tmp_path / "two")
    assert a.equals(b) and r2.kept == r1.kept
    # rewriting into the same folder leaves no stale shards
    chunk_audio(tiny_world / "msd", tmp_path / "one", _cfg(rows_per_shard=1000))
    assert len(list((tmp_path / "one").glob("part-*.parquet"))) == 1


def test_extract_pairs_many_buckets_same_result(tiny_world, tmp_path, monkeypatch):
    import songsim.ingest as ingest

    cfg = ExtractPairsConfig(0.0, True, "mean", 0.0)
    one = extract_pairs(tiny_world / "lastfm", tmp_path / "one.parquet", cfg)
    monkeypatch.setattr(ingest, "BUCKET_ROWS", 50)
    many = extract_pairs(tiny_world / "lastfm", tmp_path / "many.parquet", cfg)
    assert one.extra["dedup_buckets"] == 1 and many.extra["dedup_buckets"] > 20
    a = pl.read_parquet(tmp_path / "one.parquet").sort(["src", "tgt"])
    b = pl.read_parquet(tmp_path / "many.parquet").sort(["src", "tgt"])
    assert a.equals(b) and one.to_dict()["drop_reasons"] == many.to_dict()["drop_reasons"]
