"""Each synth writer round-trips through its io reader: write with synth/, read with io/, compare."""

import json
import zipfile

import numpy as np
import pytest

from songsim.ingest.readers import BadRecord
from songsim.ingest.readers.glove import match_glove
from songsim.ingest.readers.lastfm import LastfmJsonReader, LastfmSqliteReader
from songsim.ingest.readers.msd import read_msd_file
from songsim.ingest.readers.mxm import MxmSqliteReader, MxmTextReader
from songsim.synth.glove import write_glove_text
from songsim.synth.lastfm import ZIP_DATE, LastfmDbWriter, LastfmZipWriter, member_name, track_json
from songsim.synth.msd import write_msd_file
from songsim.synth.mxm import MxmDbWriter, MxmTextWriter
from songsim.synth.world import World

A, B, C = "TRAAAAA128F0000000", "TRBBBBB128F0000000", "TRCCCCC128F0000000"
SIMS = {A: [(B, 1.0), (C, 0.03125)], B: [(A, 0.5)], C: []}


def test_lastfm_zip_roundtrip(tmp_path):
    path = tmp_path / "lastfm_train.zip"
    with LastfmZipWriter(path, "train") as w:
        for tid, sims in SIMS.items():
            w.add(tid, track_json(tid, "Ärtist", "Title \"x\"", sims, [("rock", 100)], "2011-08-01 00:00:00.000001"))
    got = {t.track_id: t for t in LastfmJsonReader(path)}
    assert {k: v.similars for k, v in got.items()} == SIMS
    assert got[A].artist == "Ärtist" and got[A].title == 'Title "x"' and got[A].origin == "train"
    assert got[A].tags == [("rock", 100)]
    with zipfile.ZipFile(path) as zf:  # the real member layout, and a fixed time stamp (reproducible bytes)
        assert sorted(zf.namelist()) == sorted(member_name("train", t) for t in SIMS)
        assert {i.date_time for i in zf.infolist()} == {ZIP_DATE}
        text = zf.read(member_name("train", A)).decode("ascii")  # ASCII with \u escapes, one line
    assert "\n" not in text and list(json.loads(text)) == ["artist", "timestamp", "similars", "tags", "track_id",
                                                          "title"]


def test_lastfm_zip_bytes_do_not_depend_on_time(tmp_path):
    for name in ("a", "b"):
        with LastfmZipWriter(tmp_path / f"{name}.zip", "train") as w:
            w.add(A, track_json(A, "x", "y", SIMS[A], [], ""))
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_lastfm_db_roundtrip(tmp_path):
    path = tmp_path / "lastfm_similars.db"
    w = LastfmDbWriter(path)
    for tid, sims in SIMS.items():
        w.add(tid, sims)
    w.close()
    # the db stores scores as text (the real format); check_pair turns them into numbers downstream
    got = {t.track_id: [(tgt, float(x)) for tgt, x in t.similars] for t in LastfmSqliteReader(path)}
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in SIMS.items() if v}


def test_mxm_text_and_db_roundtrip(tmp_path):
    words = ["i", "the", "corazón", "love"]
    tracks = [(A, 11, np.array([1, 3]), np.array([4, 1])), (B, 12, np.array([2, 4]), np.array([1, 7]))]
    with MxmTextWriter(tmp_path / "mxm_dataset_test.txt", words, ["TESTING SET", "x", ""]) as w:
        for t in tracks:
            w.add(*t)
    db = MxmDbWriter(tmp_path / "mxm_dataset.db", words)
    for t in tracks:
        db.add(*t, is_test=True)
    db.close()
    for reader in (MxmTextReader(tmp_path / "mxm_dataset_test.txt"), MxmSqliteReader(tmp_path / "mxm_dataset.db")):
        assert reader.vocab == words
        got = [r for r in reader]
        assert not any(isinstance(r, BadRecord) for r in got)
        assert [(r.track_id, r.mxm_id, r.word_ids, r.counts) for r in got] == [
            (t, m, list(i), list(c)) for t, m, i, c in tracks]


def test_msd_file_roundtrip(tmp_path):
    world = World("tiny", 0)
    song = world.audio(0, np.random.default_rng(0))
    tid = str(world.track_ids[0])
    song.update({"track_id": tid, "seed": 1, "audio_md5": b"0" * 32, "artist_name": "Zoë", "title": "T",
                 "release": "R", "song_id": "SO" + tid[2:], "artist_id": "AR" + tid[2:], "familiarity": 0.5,
                 "year": 2001, "terms": ["rock"], "similar_artists": ["ARX"]})
    path = tmp_path / f"{tid}.h5"
    write_msd_file(path, song)
    [got] = read_msd_file(path)
    assert got.track_id == tid and got.artist_name == "Zoë" and got.title == "T"
    assert got.n_segments == len(song["timbre"])
    np.testing.assert_allclose(got.timbre, song["timbre"], rtol=1e-6)
    np.testing.assert_allclose(got.chroma, song["chroma"], rtol=1e-6)
    np.testing.assert_allclose(got.segments_start, song["segments_start"])
    assert (got.key, got.mode) == (song["key"], song["mode"])
    assert got.tempo == pytest.approx(song["tempo"]) and got.loudness == pytest.approx(song["loudness"])


def test_glove_text_roundtrip(tmp_path):
    rows = [("love", np.arange(50) / 7.0), ("corazón", -np.ones(50))]
    assert write_glove_text(tmp_path / "g.txt", rows) == 2
    m = match_glove(tmp_path / "g.txt", ["corazón", "missing", "love"])
    assert m.dim == 50 and m.found.tolist() == [False, True, False, True]
    np.testing.assert_allclose(m.vectors[3], rows[0][1], rtol=1e-4)
    np.testing.assert_allclose(m.vectors[1], -1.0)
