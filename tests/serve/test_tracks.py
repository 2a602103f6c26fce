"""The index's track table: row <-> id by binary search, metadata joined to the rows, closest spellings."""

import polars as pl
import pyarrow as pa

from songsim.serve.tracks import TrackTable


def test_rows_ids_and_metadata(tmp_path):
    ids = ["TRC", "TRA", "TRE", "TRB"]
    songs = tmp_path / "songs.parquet"
    pl.DataFrame({"track_id": ["TRA", "TRB", "TRB", "TRZ"], "artist_id": ["AR1", None, "ARx", "AR9"],
                  "artist": ["Abba", "Bee", "dup", "Zed"], "title": ["Waterloo", "Buzz", "dup", "Zzz"],
                  "year": [1974, 2000, 2001, 1999]}).write_parquet(songs)
    t = TrackTable(pa.chunked_array([ids[:2], ids[2:]]), songs)
    assert len(t) == 4 and list(t) == ids and t[1] == "TRA" and t[1:3] == ["TRA", "TRE"]
    assert [t.row(x) for x in ids] == [0, 1, 2, 3] and t.row("TRD") is None and t.row("") is None
    assert "TRE" in t and "TRX" not in t and 5 not in t
    assert t.meta["TRA"] == ("AR1", "Abba", "Waterloo")
    assert t.meta.get("TRB") == (None, "Bee", "Buzz")  # the first row of a duplicated song
    assert t.meta.get("TRC") == (None, None, None) and t.meta.get("TRX", "none") == "none"
    assert t.take([3, 0]) == (["TRB", "TRC"], [None, None], ["Bee", None], ["Buzz", None])


def test_closest_spellings_are_found_near_in_sorted_order():
    ids = [f"TR{i:05d}XYZ" for i in range(0, 100_000, 7)]
    t = TrackTable(pa.array(ids))
    assert t.closest("TR00700XYQ")[0] == "TR00700XYZ"  # a typo at the end
    assert t.closest("nothing like it at all") == []
    assert TrackTable(pa.array(["TRA"])).meta.get("TRA") == (None, None, None)  # no song table
