"""Last.fm readers on the genuine JSON samples, zips built from them, SQLite, and bad input."""

import json
import sqlite3
import zipfile

import pytest

from songsim.ingest.readers import BadRecord, FormatError
from songsim.ingest.readers.lastfm import (
    LastfmJsonReader,
    LastfmSqliteReader,
    check_pair,
    open_lastfm,
    parse_track_json,
)


def _tracks(reader):
    recs = list(reader)
    return [r for r in recs if not isinstance(r, BadRecord)], [r for r in recs if isinstance(r, BadRecord)]


def test_real_json_tree(realdata):
    good, bad = _tracks(LastfmJsonReader(realdata / "lastfm"))
    assert len(good) == 21 and not bad
    assert {t.origin for t in good} == {"subset"}
    assert sum(len(t.similars) for t in good) == 2270  # PROVENANCE: 2,270 similarity links
    assert sum(1 for t in good if not t.similars) == 4
    by_id = {t.track_id: t for t in good}
    t = by_id["TRAACZK128F4243829"]  # \u escapes in the title decode to text
    assert t.title and "\\u" not in t.title
    for tr in good:
        scores = [s for _, s in tr.similars]
        assert scores == sorted(scores, reverse=True)
        assert all(isinstance(check_pair(tr.track_id, p), tuple) for p in tr.similars)
        assert all(isinstance(c, int) for _, c in tr.tags)


def test_real_json_read_from_zip_without_unpacking(realdata, tmp_path):
    z = tmp_path / "lastfm_subset.zip"
    files = sorted((realdata / "lastfm").rglob("*.json"))
    with zipfile.ZipFile(z, "w") as zf:
        for f in files:
            zf.write(f, f.relative_to(realdata / "lastfm").as_posix())
    good, bad = _tracks(open_lastfm(z))
    assert len(good) == len(files) and not bad
    assert {t.origin for t in good} == {"subset"}
    direct = {t.track_id: t.similars for t in LastfmJsonReader(realdata / "lastfm")}
    assert {t.track_id: t.similars for t in good} == direct


def test_unsafe_and_malformed_zip_members_are_quarantined(tmp_path):
    z = tmp_path / "lastfm_train.zip"
    ok = {"artist": "a", "timestamp": "t", "similars": [["TRAAAAA128F0000000", 0.5]], "tags": [],
          "track_id": "TRBBBBB128F0000000", "title": "x"}
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("lastfm_train/B/B/B/TRBBBBB128F0000000.json", json.dumps(ok))
        zf.writestr("../evil/TRCCCCC128F0000000.json", json.dumps(ok))
        zf.writestr("lastfm_train/A/A/A/TRAAAAA128F0000000.json", '{"artist": "a", "simil')
    good, bad = _tracks(LastfmJsonReader(z))
    assert [t.track_id for t in good] == ["TRBBBBB128F0000000"]
    assert sorted(b.reason for b in bad) == ["malformed_json", "unsafe_zip_member"]
    assert all(str(z) in b.where for b in bad)  # names the archive and member


def test_parse_track_json_errors():
    assert parse_track_json("[1]", "f:1", "x").reason == "malformed_json"
    assert parse_track_json('{"track_id": "TRX"}', "f", "x").reason == "missing_key"
    assert parse_track_json('{"track_id": "nope", "similars": []}', "f", "x").reason == "bad_track_id"


@pytest.mark.parametrize("item,reason", [
    (["TRAAAAA128F0000000", 1.5], "score_out_of_range"),
    (["TRAAAAA128F0000000", float("nan")], "score_out_of_range"),
    (["TRAAAAA128F0000000", "abc"], "bad_score"),
    (["bad", 0.5], "bad_target_id"),
    (["TRSELF0128F0000000", 0.5], "self_link"),
    ([1, 2, 3], "malformed_pair"),
])
def test_check_pair_reasons(item, reason):
    assert check_pair("TRSELF0128F0000000", item) == reason


def test_check_pair_accepts_integer_one_and_text_scores_from_sqlite_only():
    assert check_pair("TRSELF0128F0000000", ["TRAAAAA128F0000000", 1]) == ("TRAAAAA128F0000000", 1.0)
    assert check_pair("TRSELF0128F0000000", ("TRAAAAA128F0000000", "0.25"), text_scores=True) == (
        "TRAAAAA128F0000000", 0.25)
    # in JSON a score is a JSON number: no booleans, no strings
    for bad in (True, "0.5", " 0.25 ", "1e-1"):
        assert check_pair("TRSELF0128F0000000", ["TRAAAAA128F0000000", bad]) == "bad_score", bad


def test_sqlite_matches_zips(tiny_world):
    reader = LastfmSqliteReader(tiny_world / "lastfm" / "lastfm_similars.db")
    db = {t.track_id: [(a, float(b)) for a, b in t.similars] for t in reader}
    js = {t.track_id: t.similars for t in LastfmJsonReader(tiny_world / "lastfm")}
    assert db.keys() == js.keys()
    for k in db:
        assert [a for a, _ in db[k]] == [a for a, _ in js[k]]
        assert all(abs(x - y) < 1e-12 for (_, x), (_, y) in zip(db[k], js[k]))


def test_sqlite_bad_rows_and_wrong_file(tmp_path):
    p = tmp_path / "lastfm_similars.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE similars_src (tid TEXT, target TEXT)")
    con.execute("INSERT INTO similars_src VALUES ('TRAAAAA128F0000000', 'TRBBBBB128F0000000,0.5,TRC')")
    con.execute("INSERT INTO similars_src VALUES ('TRAAAAA128F0000001', 'TRBBBBB128F0000000,0.5')")
    con.commit()
    con.close()
    recs = list(LastfmSqliteReader(p))
    assert isinstance(recs[0], BadRecord) and recs[0].reason == "odd_target_list" and "rowid 1" in recs[0].where
    assert recs[1].similars == [("TRBBBBB128F0000000", "0.5")]
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(FormatError, match="not a lastfm_similars.db"):
        list(LastfmSqliteReader(other))


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        LastfmJsonReader(tmp_path / "nope")
