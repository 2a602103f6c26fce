"""MSD HDF5 reader on all genuine files, the two genuine traps, and broken or multi-song files."""

import h5py
import numpy as np
import pytest

from songsim.ingest.readers import BadRecord
from songsim.ingest.readers.msd import MsdSong, iter_msd_files, read_msd_file


def _all_real(realdata):
    return [p for sub in ("msd_h5", "msd_h5_tree") for p in iter_msd_files(realdata / sub)]


def test_every_real_file(realdata):
    files = _all_real(realdata)
    assert len(files) == 5 + 281
    songs, bad = [], []
    for f in files:
        for r in read_msd_file(f):
            (bad if isinstance(r, BadRecord) else songs).append(r)
    assert len(songs) == 285
    assert [b.reason for b in bad] == ["not_msd"] and "TRAAAAW128F429D538" in bad[0].where
    lens = sorted(len(s.timbre) for s in songs)
    assert lens[0] == 5 and lens[-1] == 3303
    for s in songs:
        assert s.timbre.shape == s.chroma.shape == (len(s.segments_start), 12)
        assert np.allclose(s.chroma.max(axis=1), 1.0)
        assert np.all(np.diff(s.segments_start) > 0)
        assert s.duration > 0 and 0 <= s.key < 12


def test_rick_astley(realdata):
    [s] = read_msd_file(realdata / "msd_h5_tree" / "A" / "X" / "L" / "TRAXLZU12903D05F94.h5")
    assert isinstance(s, MsdSong) and len(s.timbre) == 935
    assert s.artist_name == "Rick Astley" and s.title.startswith("Never Gonna Give You Up")


def test_empty_hdf5_trap(realdata):
    [b] = read_msd_file(realdata / "msd_h5_traps" / "TRAXLZU12903D05F94.h5")
    assert b.reason == "not_msd" and "missing analysis/songs" in b.detail


def test_truncated_file_is_corrupt_not_a_crash(realdata, tmp_path):
    src = realdata / "msd_h5" / "TRAAABD128F429CF47.h5"
    p = tmp_path / src.name
    p.write_bytes(src.read_bytes()[:5000])
    [b] = read_msd_file(p)
    assert b.reason == "corrupt_hdf5" and str(p) in b.where
    q = tmp_path / "TRNOTHD128F0000000.h5"
    q.write_text("not hdf5")
    assert read_msd_file(q)[0].reason == "corrupt_hdf5"


def _copy_real(realdata, tmp_path, name="TRAAABD128F429CF47"):
    p = tmp_path / f"{name}.h5"
    p.write_bytes((realdata / "msd_h5" / f"{name}.h5").read_bytes())
    return p


def test_nan_and_empty_segments_quarantined(realdata, tmp_path):
    p = _copy_real(realdata, tmp_path)
    with h5py.File(p, "r+") as f:
        t = f["analysis/segments_timbre"][:]
        t[3, 2] = np.nan
        del f["analysis/segments_timbre"]
        f["analysis/segments_timbre"] = t
    assert read_msd_file(p)[0].reason == "nonfinite_features"
    with h5py.File(p, "r+") as f:
        for k in ("segments_timbre", "segments_pitches"):
            del f[f"analysis/{k}"]
            f[f"analysis/{k}"] = np.zeros((0, 12))
        del f["analysis/segments_start"]
        f["analysis/segments_start"] = np.zeros(0)
    assert read_msd_file(p)[0].reason == "empty_segments"


def test_multi_song_file_honours_idx_offsets(realdata, tmp_path):
    """An aggregate file holding two real songs: each gets its own rows via idx_segments_*."""
    a = read_msd_file(realdata / "msd_h5" / "TRAAABD128F429CF47.h5")[0]
    b = read_msd_file(realdata / "msd_h5" / "TRAAAEF128F4273421.h5")[0]
    agg = tmp_path / "aggregate.h5"
    with h5py.File(realdata / "msd_h5" / "TRAAABD128F429CF47.h5") as fa, \
            h5py.File(realdata / "msd_h5" / "TRAAAEF128F4273421.h5") as fb, h5py.File(agg, "w") as out:
        an = np.concatenate([fa["analysis/songs"][:], fb["analysis/songs"][:]])
        for k in ("idx_segments_timbre", "idx_segments_pitches", "idx_segments_start"):
            an[k] = [0, len(a.timbre)]
        out["analysis/songs"] = an
        out["metadata/songs"] = np.concatenate([fa["metadata/songs"][:], fb["metadata/songs"][:]])
        for k in ("segments_timbre", "segments_pitches", "segments_start"):
            out[f"analysis/{k}"] = np.concatenate([fa[f"analysis/{k}"][:], fb[f"analysis/{k}"][:]])
    got = read_msd_file(agg)
    assert [s.track_id for s in got] == [a.track_id, b.track_id]
    assert np.array_equal(got[0].timbre, a.timbre) and np.array_equal(got[1].chroma, b.chroma)


def test_track_id_must_match_file_name(realdata, tmp_path):
    p = _copy_real(realdata, tmp_path)
    q = p.rename(tmp_path / "TRZZZZZ128F0000000.h5")
    assert read_msd_file(q)[0].reason == "track_id_mismatch"


@pytest.mark.parametrize("sub", ["msd_h5_tree"])
def test_iter_msd_files_sorted(realdata, sub):
    files = list(iter_msd_files(realdata / sub))
    assert files == sorted(files) and len(files) == 281
