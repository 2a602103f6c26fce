"""Hostile and broken input (issue 8): each case ends as a clear error naming the file (and line,
member or ROWID) or as a counted quarantine with its reason; never a traceback, a hang, a memory
blow-up, silently lost records, or data from outside the input tree."""

import json
import sqlite3
import struct
import zipfile
import zlib

import h5py
import numpy as np
import pytest

from songsim.ingest.readers import BadRecord, FormatError, is_track_id
from songsim.ingest.readers.lastfm import LastfmJsonReader, LastfmSqliteReader, parse_track_json
from songsim.ingest.readers.msd import read_msd_file
from songsim.ingest.readers.mxm import MxmSqliteReader, MxmTextReader, parse_track_line
from songsim.ingest.readers.zipstream import OversizedMemberError, ZipLimits, iter_zip

A, B = "TRAAAAA128F0000000", "TRBBBBB128F0000000"


def _track(tid, sims):
    return json.dumps({"artist": "", "timestamp": "", "similars": sims, "tags": [], "track_id": tid, "title": ""})


def _tid(i):
    return f"TR{i:05d}AA128F0000000"[:18]


# ---- zips ---------------------------------------------------------------------------------------------


def test_zip_bomb_is_quarantined_without_inflating_it(tmp_path):
    path = tmp_path / "lastfm_train.zip"
    bomb = b'{"similars": [' + b" " * (8 << 20)  # 8 MiB of spaces deflates to ~8 KB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"lastfm_train/A/A/A/{A}.json", _track(A, [[B, 0.5]]))
        zf.writestr(f"lastfm_train/B/B/B/{B}.json", bomb)
    got = list(LastfmJsonReader(path, ZipLimits(max_bytes=1 << 20, max_ratio=200)))
    assert [type(r).__name__ for r in got] == ["LastfmTrack", "BadRecord"]
    assert got[1].reason == "oversized_member" and f"{path}!lastfm_train/B/B/B/{B}.json" == got[1].where
    # the ratio limit alone catches it too (the declared size could lie)
    [_, (_, err)] = list(iter_zip(path, ZipLimits(max_bytes=1 << 40, max_ratio=100)))
    assert isinstance(err, OversizedMemberError) and "100x" in str(err)


def _data_descriptor_zip(path, n_plain, n_dd, reverse_cd):
    """n_plain ordinary members, then n_dd members with flag 0x08 (sizes in a data descriptor)."""
    out, cd = bytearray(), []
    for i in range(n_plain + n_dd):
        tid = _tid(i)
        name = f"lastfm_train/{tid[2]}/{tid[3]}/{tid[4]}/{tid}.json".encode()
        data = _track(tid, []).encode()
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw = comp.compress(data) + comp.flush()
        crc, dd = zlib.crc32(data), i >= n_plain
        flags = 0x08 if dd else 0
        off = len(out)
        out += b"PK\x03\x04" + struct.pack("<HHHHHIIIHH", 20, flags, 8, 0, 0, 0 if dd else crc,
                                           0 if dd else len(raw), 0 if dd else len(data), len(name), 0) + name + raw
        if dd:
            out += b"PK\x07\x08" + struct.pack("<III", crc, len(raw), len(data))
        cd.append(b"PK\x01\x02" + struct.pack("<HHHHHHIIIHHHHHII", 20, 20, flags, 8, 0, 0, crc, len(raw),
                                              len(data), len(name), 0, 0, 0, 0, 0, off) + name)
    if reverse_cd:
        cd.reverse()
    start = len(out)
    for c in cd:
        out += c
    out += b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(cd), len(cd), len(out) - start, start, 0)
    path.write_bytes(bytes(out))


def test_every_member_read_exactly_once_whatever_the_central_directory_order(tmp_path):
    path = tmp_path / "lastfm_train.zip"
    _data_descriptor_zip(path, 10, 40, reverse_cd=True)
    names = [n for n, _ in iter_zip(path)]
    assert len(names) == 50 and len(set(names)) == 50
    tracks = [r.track_id for r in LastfmJsonReader(path)]
    assert sorted(tracks) == sorted(_tid(i) for i in range(50))


# ---- Last.fm JSON and SQLite ----------------------------------------------------------------------------


@pytest.mark.parametrize("text,reason", [
    ("[" * 200_000 + "]" * 200_000, "malformed_json"),  # RecursionError
    ('{"track_id": "' + A + '", "similars": [["' + B + '", ' + "9" * 5001 + "]]}", "malformed_json"),  # 5001 digits
])
def test_json_that_crashed_the_parser(text, reason):
    got = parse_track_json(text, "x.json", "train")
    assert isinstance(got, BadRecord) and got.reason == reason and got.where == "x.json"


def test_huge_scores_are_out_of_range(tmp_path):
    from songsim.ingest.readers.lastfm import check_pair

    text = '{"track_id": "' + A + '", "similars": [["' + B + '", 1' + "0" * 400 + '], ["' + B + '", 1e400]]}'
    rec = parse_track_json(text, "x.json", "train")
    assert [check_pair(A, s) for s in rec.similars] == ["score_out_of_range", "score_out_of_range"]


def test_track_id_with_a_trailing_newline_is_not_a_track_id():
    assert is_track_id(A) and not is_track_id(A + "\n") and not is_track_id(" " + A) and not is_track_id(None)


def test_sqlite_blob_target_and_read_only_inputs(tmp_path):
    p = tmp_path / "lastfm_similars.db"
    con = sqlite3.connect(p)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE similars_src (tid TEXT, target TEXT)")
    con.execute("INSERT INTO similars_src VALUES (?, ?)", (A, f"{B},0.5"))
    con.execute("INSERT INTO similars_src VALUES (?, ?)", (B, b"\x00\x01binary"))
    con.commit()
    con.close()
    before = sorted(x.name for x in tmp_path.iterdir())
    got = list(LastfmSqliteReader(p))
    assert got[0].similars == [(B, "0.5")] and got[1].reason == "bad_target_list"
    assert got[1].where.endswith("similars_src rowid 2")
    assert sorted(x.name for x in tmp_path.iterdir()) == before  # no -wal / -shm created beside the input


def test_unrecognised_extensions_are_read_case_insensitively_or_counted(tmp_path):
    from songsim.core.config import ExtractPairsConfig
    from songsim.ingest.pairs import extract_pairs

    d = tmp_path / "lastfm_train" / "A" / "A" / "A"
    d.mkdir(parents=True)
    (d / f"{A}.JSON").write_text(_track(A, [[B, 0.5]]))
    (d / "notes.txt").write_text("hello")
    rep = extract_pairs(tmp_path / "lastfm_train", tmp_path / "p.parquet", ExtractPairsConfig(0.0, True, "mean", 0.5))
    files = rep.extra["files"]
    assert rep.kept == 1 and files["kept"] == 1 and files["drop_reasons"] == {"skipped_unrecognised": 1}


# ---- musiXmatch ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("line,reason", [
    (f"{A},1,1:1000000000000", "bad_count"),  # 10^12: would allocate 1.82 TiB
    (f"{A},99999999999999999999,1:2", "bad_mxm_id"),  # beyond int64
    (f"{A}\n,1,1:2", "bad_track_id"),
])
def test_mxm_lines_that_crashed(line, reason):
    got = parse_track_line(line, 5, "f.txt:7", "test")
    assert isinstance(got, BadRecord) and got.reason == reason and got.where == "f.txt:7"


def test_random_bytes_as_mxm_file_is_a_clear_error(tmp_path):
    p = tmp_path / "mxm_dataset_test.txt"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    with pytest.raises(FormatError, match=rf"{p}:\d+: not UTF-8"):
        MxmTextReader(p)


def test_bom_does_not_become_the_vocabulary(tmp_path):
    p = tmp_path / "mxm_dataset_test.txt"
    p.write_bytes("\ufeff# TESTING SET\n%i,the,you\n".encode() + f"{A},5,1:2,3:1\n".encode())
    r = MxmTextReader(p)
    assert r.vocab == ["i", "the", "you"] and [t.counts for t in r] == [[2, 1]]


def _mxm_db(path, rows, lyrics=True):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE words (word TEXT PRIMARY KEY)")
    con.executemany("INSERT INTO words VALUES (?)", [("i",), ("the",)])
    if lyrics:
        con.execute("CREATE TABLE lyrics (track_id, mxm_tid INT, word TEXT, count INT, is_test INT)")
        con.executemany("INSERT INTO lyrics VALUES (?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()


def test_mxm_db_bad_ids_and_missing_table(tmp_path):
    _mxm_db(tmp_path / "a.db", [(A, "abc", "i", 1, 0), (B, None, "the", 2, 0), ("TRCCCCC128F0000000", 7, "i", 3, 1)])
    got = list(MxmSqliteReader(tmp_path / "a.db"))
    assert [getattr(r, "reason", "ok") for r in got] == ["bad_mxm_id", "bad_mxm_id", "ok"]
    assert "track_id=" + A in got[0].where
    _mxm_db(tmp_path / "b.db", [], lyrics=False)
    with pytest.raises(FormatError, match="b.db: not an mxm_dataset.db"):
        MxmSqliteReader(tmp_path / "b.db")


# ---- MSD HDF5 -------------------------------------------------------------------------------------------


@pytest.fixture()
def msd_file(tmp_path):
    from songsim.synth.msd import write_msd_file
    from songsim.synth.world import World

    def make(name=A, **over):
        w = World("tiny", 0)
        song = w.audio(0, np.random.default_rng(0))
        song.update({"track_id": name, "seed": 1, "audio_md5": b"0" * 32, "artist_name": "x", "title": "y",
                     "release": "r", "song_id": "SO", "artist_id": "AR", "familiarity": 0.5, "year": 0,
                     "terms": ["rock"], "similar_artists": ["AR1"]})
        song.update(over)
        path = tmp_path / f"{name}.h5"
        write_msd_file(path, song)
        return path
    return make


def _patch_song(path, field, value):
    with h5py.File(path, "a") as f:
        row = f["analysis/songs"][:]
        row[field] = value
        f["analysis/songs"][:] = row


@pytest.mark.parametrize("field,value", [("key", 300), ("tempo", float("nan")), ("loudness", float("inf")),
                                         ("duration", float("-inf")), ("mode", 7)])
def test_implausible_scalars_are_bad_values_not_a_dead_stage(msd_file, field, value):
    path = msd_file()
    _patch_song(path, field, value)
    [bad] = read_msd_file(path)
    assert bad.reason == "bad_value" and field in bad.detail and bad.where == str(path)


def test_external_storage_outside_the_tree_is_refused(tmp_path, msd_file):
    path = msd_file()
    secret = tmp_path / "outside.bin"
    secret.write_bytes(np.arange(24, dtype=np.float64).tobytes())
    with h5py.File(path, "a") as f:
        del f["analysis/segments_timbre"]
        f["analysis"].create_dataset("segments_timbre", shape=(2, 12), dtype="<f8", external=[(str(secret), 0, 192)])
    [bad] = read_msd_file(path)
    assert bad.reason == "unsafe_hdf5" and "external raw storage" in bad.detail


def test_soft_link_is_refused(msd_file):
    path = msd_file()
    with h5py.File(path, "a") as f:
        f.copy("analysis/segments_pitches", "other")
        del f["analysis/segments_timbre"]
        f["analysis/segments_timbre"] = h5py.SoftLink("/other")
    [bad] = read_msd_file(path)
    assert bad.reason == "unsafe_hdf5" and "analysis/segments_timbre: soft link" in bad.detail


def test_external_link_is_refused(tmp_path, msd_file):
    path = msd_file()
    with h5py.File(path, "a") as f:
        del f["metadata"]
        f["metadata"] = h5py.ExternalLink(str(tmp_path / "elsewhere.h5"), "/metadata")
    [bad] = read_msd_file(path)
    assert bad.reason == "unsafe_hdf5" and "metadata: external link" in bad.detail


def test_one_huge_chunk_is_refused(msd_file, monkeypatch):
    import songsim.ingest.readers.msd as msd

    monkeypatch.setattr(msd, "MAX_CHUNK_BYTES", 1000)  # the synth files chunk 1024 rows x 12 x 8 bytes
    [bad] = read_msd_file(msd_file())
    assert bad.reason == "oversized_chunks"


def test_float16_overflow_of_any_feature_is_quarantined(tmp_path, msd_file):
    from songsim.core.config import ChunkAudioConfig
    from songsim.ingest.audio import chunk_audio

    tree = tmp_path / "msd"
    tree.mkdir()
    good = msd_file(A)
    bad = msd_file(B)
    with h5py.File(bad, "a") as f:
        f["analysis/segments_pitches"][:] = 1e6  # beyond float16: inf once stored
    for p in (good, bad):
        p.rename(tree / p.name)
    cfg = ChunkAudioConfig(32, "center", "zero", True, 10, 1, 0.9)
    rep = chunk_audio(tree, tmp_path / "audio", cfg)
    assert rep.kept == 1 and rep.reasons == {"nonfinite_features": 1}
    assert "chroma not finite in its stored dtype float16" in rep.examples["nonfinite_features"][0]
