"""The coverage section of the fidelity report: shares counted from the raw files, next to the published
figures; a world drawn with the published coverage lands within its binomial tolerance, the dense demo
world shows its gaps, and the counts add up."""

from collections import Counter

import pytest

from songsim.core.published import DENSE, PUBLISHED, SOURCES
from songsim.judge.coverage import count_sources, coverage, reconcile
from songsim.judge.fidelity import good

SHARES = ("lastfm", "lists", "lyrics", "audio", "mxm_test")


def _coverage(world):
    return coverage(count_sources(world / "lastfm", world / "mxm", sorted((world / "msd").rglob("*.h5")), good))


@pytest.fixture(scope="module")
def published_world(tmp_path_factory):
    from songsim.synth.write import write_world

    out = tmp_path_factory.mktemp("published_world")
    summary = write_world(out, "tiny", 4, lastfm_sqlite=False, mxm_sqlite=False)  # no coverage: the published one
    assert summary["coverage"] == {k: getattr(PUBLISHED, k) for k in SHARES}
    return out, summary


def test_a_world_with_the_published_coverage_realises_it(published_world):
    world, summary = published_world
    cov = _coverage(world)
    n = summary["n_tracks"]
    c = cov["counts"]
    # every track has audio, so every track is seen; the counts are the writer's own
    assert c["tracks"] == c["msd_tracks"] == n and cov["shares"]["audio"]["world"] == 1.0
    assert (c["lastfm_files"], c["mxm_tracks"], c["mxm_test"]) == (
        summary["lastfm"]["tracks"], summary["mxm"]["tracks"], summary["mxm"]["test_tracks"])
    assert c["lastfm_pairs"] == summary["lastfm"]["pairs"]
    for k in SHARES:
        s = cov["shares"][k]
        assert s["published"] == getattr(PUBLISHED, k) and s["source"] == SOURCES[k][2]
        # a binomial draw at the published share: within 4 standard errors at this tiny size
        assert s["gap"] <= 4 * s["se"] + 1e-9 and s["within"], (k, s)
    ppl = cov["shares"]["pairs_per_list"]
    assert ppl["published"] == pytest.approx(96.61) and 60 < ppl["world"] < 140  # lists follow the 21 real ones


def test_the_dense_demo_world_shows_its_gaps(tiny_world):
    cov = _coverage(tiny_world)
    s = cov["shares"]
    assert s["lyrics"]["gap"] == pytest.approx(DENSE.lyrics - PUBLISHED.lyrics, abs=0.08) and not s["lyrics"]["within"]
    assert s["audio"]["world"] < 1.0 and not s["audio"]["within"]  # some songs have no MSD file
    assert s["lists"]["world"] > PUBLISHED.lists + 0.1 and not s["lists"]["within"]  # fewer empty lists than real


def test_the_counts_add_up_and_a_broken_sum_is_caught(tiny_world):
    c = _coverage(tiny_world)["counts"]
    assert reconcile(c) == []
    assert sum(c["sources_per_track"].values()) == c["tracks"]
    assert c["lastfm_nonempty_lists"] + c["lastfm_empty_lists"] == c["lastfm_files"]
    assert c["mxm_train"] + c["mxm_test"] == c["mxm_lines"] == c["mxm_tracks"]
    broken = {**c, "lastfm_empty_lists": c["lastfm_empty_lists"] + 1}
    assert reconcile(broken) == ["lastfm_files = nonempty + empty lists"]
    with pytest.raises(AssertionError, match="do not add up"):
        coverage(broken)


def test_denominators_come_from_the_files_not_the_params(tmp_path):
    """Two Last.fm files (one empty list), one lyrics line in the test file, three MSD files: the shares are
    those of the files, whatever world wrote them."""
    from songsim.synth.lastfm import LastfmZipWriter, track_json
    from songsim.synth.mxm import MxmTextWriter

    ids = [f"TRAAAAA128F00000{k:02d}" for k in range(4)]
    (tmp_path / "lastfm").mkdir()
    with LastfmZipWriter(tmp_path / "lastfm" / "lastfm_train.zip", "train") as zw:
        zw.add(ids[0], track_json(ids[0], "a", "t", [(ids[1], 0.5), (ids[2], 0.1)], [], "2011-08-01 00:00:00.000000"))
        zw.add(ids[1], track_json(ids[1], "a", "t", [], [], "2011-08-01 00:00:00.000000"))
    (tmp_path / "mxm").mkdir()
    for split, rows in (("train", []), ("test", [ids[3]])):
        with MxmTextWriter(tmp_path / "mxm" / f"mxm_dataset_{split}.txt", ["a", "b"], ["x"]) as w:
            for t in rows:
                w.add(t, 1, [1], [2])
    msd = [tmp_path / f"{t}.h5" for t in ids[:3]]
    cov = coverage(count_sources(tmp_path / "lastfm", tmp_path / "mxm", msd, good))
    s = cov["shares"]
    assert cov["counts"]["tracks"] == 4 and cov["counts"]["sources_per_track"] == {
        "lastfm+audio": 2, "audio": 1, "lyrics": 1}
    assert (s["lastfm"]["world"], s["lists"]["world"], s["lyrics"]["world"], s["audio"]["world"]) == (
        0.5, 0.5, 0.25, 0.75)
    assert s["mxm_test"]["world"] == 1.0 and s["pairs_per_list"]["world"] == 2.0
    assert cov["counts"]["bad_records_skipped"] == {}
    assert Counter(cov["counts"]["sources_per_track"]).total() == cov["counts"]["tracks"]
