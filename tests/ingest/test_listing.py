"""Stage list_msd: the listing of the MSD tree that chunk_audio and fidelity depend on instead of the tree."""

import os
import re
import shutil

import pyarrow.parquet as pq
import pytest

from songsim.core.config import ChunkAudioConfig
from songsim.ingest.audio import chunk_audio
from songsim.ingest.audio_shards import AudioShards
from songsim.ingest.listing import ListingError, listed_files, listing_root, write_listing
from songsim.ingest.readers.msd import iter_msd_files


def _tree(root, names):
    for n in names:
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(n.encode())
    return root


def _rows(listing):
    return pq.read_table(listing).to_pylist()


def test_lists_every_h5_file_in_tree_order_with_size_and_time(tmp_path):
    root = _tree(tmp_path / "msd", ["B/A/Z/TRBAZ2.h5", "A/B/C/TRABC1.h5", "A/B/C/TRABC0.h5", "A/C/A/TRACA9.h5",
                                    "A/B/C/notes.txt", "README"])
    rep = write_listing(root, tmp_path / "l.parquet")
    rows = _rows(tmp_path / "l.parquet")
    assert [r["path"] for r in rows] == ["A/B/C/TRABC0.h5", "A/B/C/TRABC1.h5", "A/C/A/TRACA9.h5", "B/A/Z/TRBAZ2.h5"]
    st = (root / "A/B/C/TRABC1.h5").stat()
    assert rows[1]["size"] == st.st_size and rows[1]["mtime_ns"] == st.st_mtime_ns
    # the same order as the tree walk chunk_audio used before (sorted rglob)
    assert [str(p.relative_to(root)) for p in iter_msd_files(root)] == [r["path"] for r in rows]
    d = rep.to_dict()
    assert (d["read"], d["kept"], d["quarantined"], d["skipped_other"]) == (4, 4, 0, 2)
    assert d["bytes"] == sum(r["size"] for r in rows) and listing_root(tmp_path / "l.parquet") == str(root)


def test_same_tree_same_bytes_and_any_change_shows(tmp_path):
    root = _tree(tmp_path / "msd", [f"A/{c}/X/TRA{c}X{i}.h5" for c in "ABC" for i in range(3)])
    write_listing(root, tmp_path / "a.parquet")
    write_listing(root, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    _tree(root, ["A/B/Y/TRABYnew.h5"])  # a file added
    write_listing(root, tmp_path / "c.parquet")
    assert len(_rows(tmp_path / "c.parquet")) == 10
    st = (root / "A/A/X/TRAAX0.h5").stat()
    os.utime(root / "A/A/X/TRAAX0.h5", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # one file touched
    write_listing(root, tmp_path / "d.parquet")
    changed = [(a, b) for a, b in zip(_rows(tmp_path / "c.parquet"), _rows(tmp_path / "d.parquet")) if a != b]
    assert [a["path"] for a, _ in changed] == ["A/A/X/TRAAX0.h5"]


def test_links_and_bad_entries(tmp_path):
    root = _tree(tmp_path / "msd", ["A/A/A/TRAAA1.h5"])
    other = _tree(tmp_path / "elsewhere", ["X/X/X/TRXXX1.h5"])
    os.symlink(other / "X", root / "B")  # a linked folder is not followed (as rglob)
    os.symlink(other / "X/X/X/TRXXX1.h5", root / "A/A/A/TRAAA2.h5")  # a linked file is listed
    os.symlink(tmp_path / "gone.h5", root / "A/A/A/TRAAA3.h5")  # a broken link is quarantined, and counted
    rep = write_listing(root, tmp_path / "l.parquet", max_quarantine_frac=0.5)
    assert [r["path"] for r in _rows(tmp_path / "l.parquet")] == ["A/A/A/TRAAA1.h5", "A/A/A/TRAAA2.h5"]
    d = rep.to_dict()
    assert (d["read"], d["kept"], d["reasons"]) == (3, 2, {"unreadable_file": 1})
    assert "TRAAA3.h5" in d["examples"]["unreadable_file"][0]
    with pytest.raises(Exception, match="max_quarantine_frac"):
        write_listing(root, tmp_path / "strict.parquet")
    assert not (tmp_path / "strict.parquet").exists()


def test_a_single_file_an_empty_tree_and_a_missing_one(tmp_path):
    root = _tree(tmp_path / "msd", ["A/A/A/TRAAA1.h5"])
    write_listing(root / "A/A/A/TRAAA1.h5", tmp_path / "one.parquet")
    n, files = listed_files(tmp_path / "one.parquet", root / "A/A/A/TRAAA1.h5")
    assert n == 1 and list(files) == [root / "A/A/A/TRAAA1.h5"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ListingError, match="no .h5 files"):
        write_listing(tmp_path / "empty", tmp_path / "none.parquet")
    with pytest.raises(ListingError, match="no such file or directory"):
        write_listing(tmp_path / "nowhere", tmp_path / "none.parquet")
    assert not (tmp_path / "none.parquet").exists()


def test_a_listing_of_another_tree_is_refused(tmp_path):
    root = _tree(tmp_path / "msd", ["A/A/A/TRAAA1.h5"])
    write_listing(root, tmp_path / "l.parquet")
    assert listed_files(tmp_path / "l.parquet", str(root) + "/")[0] == 1  # the same tree, spelt differently
    with pytest.raises(ListingError, match="run the list_msd stage"):
        listed_files(tmp_path / "l.parquet", tmp_path / "other")


def test_chunk_audio_reads_exactly_the_listed_files(tiny_world, tmp_path):
    msd = tmp_path / "msd"
    shutil.copytree(tiny_world / "msd", msd)
    write_listing(msd, tmp_path / "l.parquet")
    cfg = ChunkAudioConfig(frames=32, crop="center", pad="zero", float16=True, rows_per_shard=1000, workers=1,
                           max_quarantine_frac=0.05)
    whole = chunk_audio(msd, tmp_path / "tree", cfg)
    listed = chunk_audio(msd, tmp_path / "listed", cfg, listing=tmp_path / "l.parquet")
    assert AudioShards(tmp_path / "tree").read().equals(AudioShards(tmp_path / "listed").read())
    assert whole.kept == listed.kept
    # a file added after the listing is not read until the tree is listed again; one removed is quarantined
    files = sorted(msd.rglob("*.h5"))
    shutil.copy(files[0], msd / files[0].name)
    files[1].unlink()
    after = chunk_audio(msd, tmp_path / "after", cfg, listing=tmp_path / "l.parquet").to_dict()
    assert (after["kept"], after["reasons"]) == (whole.kept - 1, {"missing_file": 1})


def test_under_dvc_a_noop_reruns_nothing_after_the_listing_and_an_added_file_does(tmp_path):
    """The mechanism dvc.yaml relies on, in a small DVC project with the real list_msd stage script: the
    always_changed listing re-runs at every `dvc repro`, and what depends on it runs only when the tree
    changed (bench/bench_dvc_tree.py measures it at a million files)."""
    import subprocess
    import sys

    import yaml

    from tests.conftest import ROOT

    root = _tree(tmp_path / "msd", [f"A/{c}/X/TRA{c}X{i}.h5" for c in "AB" for i in range(3)])
    proj = tmp_path / "proj"
    proj.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["raw"]["msd"] = str(root)
    params["paths"].update(msd_listing="listing.parquet", reports="reports")
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    count = ("import pyarrow.parquet as pq; "
             "open('count.txt', 'w').write(str(pq.read_metadata('listing.parquet').num_rows))")
    (proj / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "list_msd": {"cmd": f"{sys.executable} {ROOT / 'stages' / 'list_msd.py'}", "always_changed": True,
                     "params": ["raw.msd"], "outs": ["listing.parquet", {"reports/list_msd.json": {"cache": False}}]},
        "consume": {"cmd": f'{sys.executable} -c "{count}"', "deps": ["listing.parquet"], "outs": ["count.txt"]},
    }}))

    def repro() -> list[str]:
        out = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=proj, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        return re.findall(r"Running stage '([^']+)'", out.stdout)

    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=proj, check=True)
    assert repro() == ["list_msd", "consume"] and (proj / "count.txt").read_text() == "6"
    assert repro() == ["list_msd"]  # nothing changed: the listing's hash is the same, consume is skipped
    _tree(root, ["A/C/X/TRACXnew.h5"])
    assert repro() == ["list_msd", "consume"] and (proj / "count.txt").read_text() == "7"
