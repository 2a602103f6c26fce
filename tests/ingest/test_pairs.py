"""Stage extract_pairs: symmetric merge, counts, systemic failure, zip vs SQLite, buckets, genuine JSON."""

import json
import zipfile

import polars as pl
import pytest

from songsim.core.config import ExtractPairsConfig
from songsim.core.report import QuarantineError
from songsim.ingest import pairs as pairs_stage
from songsim.ingest.pairs import extract_pairs

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
    # a failing run leaves no output: no pairs file, no temporary file, no spill folder
    assert sorted(x.name for x in tmp_path.iterdir()) == ["lastfm_train.zip"]


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


def test_extract_pairs_many_buckets_same_result(tiny_world, tmp_path, monkeypatch):
    cfg = ExtractPairsConfig(0.0, True, "mean", 0.0)
    one = extract_pairs(tiny_world / "lastfm", tmp_path / "one.parquet", cfg)
    monkeypatch.setattr(pairs_stage, "BUCKET_ROWS", 50)
    many = extract_pairs(tiny_world / "lastfm", tmp_path / "many.parquet", cfg)
    assert one.extra["dedup_buckets"] == 1 and many.extra["dedup_buckets"] > 20
    a = pl.read_parquet(tmp_path / "one.parquet").sort(["src", "tgt"])
    b = pl.read_parquet(tmp_path / "many.parquet").sort(["src", "tgt"])
    assert a.equals(b) and one.to_dict()["drop_reasons"] == many.to_dict()["drop_reasons"]


def test_stale_spill_folders_of_a_killed_run_are_removed(tmp_path):
    z = _zip(tmp_path / "lastfm_train.zip", {A: [[B, 0.8]]})
    stale = tmp_path / ".pairs-buckets-dead"
    stale.mkdir()
    (stale / "b00000.tsv").write_text("x")
    (tmp_path / ".p.parquet.1234.tmp").write_text("x")
    extract_pairs(z, tmp_path / "p.parquet", ExtractPairsConfig(0.0, True, "mean", 0.0))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["lastfm_train.zip", "p.parquet"]
