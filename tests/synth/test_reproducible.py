"""The synthetic world is byte-reproducible: the same seed gives the same bytes in every file, whatever
the folder, the interpreter's hash seed and the processes writing it (zip member times, HDF5, SQLite,
Parquet, text, JSON)."""

import hashlib
import os
import subprocess
import sys


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_tiny_world_written_twice_is_identical(tmp_path):
    code = ("import sys; from songsim.synth.write import write_world; "
            "write_world(sys.argv[1], 'tiny', 5, lastfm_sqlite=True, mxm_sqlite=True, workers=int(sys.argv[2]))")
    # one process, then three writing the MSD files: the same bytes
    for out, hash_seed, workers in ((tmp_path / "w0", "1", "1"), (tmp_path / "w1" / "nested", "12345", "3")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", code, str(out), workers], check=True, env=env)
    a, b = _digests(tmp_path / "w0"), _digests(tmp_path / "w1" / "nested")
    assert len(a) > 100 and a.keys() == b.keys()
    assert [f for f in a if a[f] != b[f]] == []
