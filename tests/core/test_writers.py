"""Atomic writers: an output appears whole on success, and nothing (not even a temp file) on failure."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from songsim.core.writers import ParquetStreamWriter, ShardWriter, write_csv, write_json
from songsim.synth.lastfm import LastfmDbWriter, LastfmZipWriter
from songsim.synth.mxm import MxmTextWriter

SCHEMA = pa.schema([pa.field("x", pa.int32(), nullable=False)])


def _only(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


def test_stream_writer_appears_on_close(tmp_path):
    with ParquetStreamWriter(tmp_path / "a.parquet", SCHEMA) as w:
        w.write({"x": [1, 2]})
        assert _only(tmp_path) != ["a.parquet"]  # still a temp file while open
        w.write({"x": [3]})
    assert pq.read_table(tmp_path / "a.parquet").column("x").to_pylist() == [1, 2, 3]
    assert _only(tmp_path) == ["a.parquet"]


@pytest.mark.parametrize("make", [
    lambda d: ParquetStreamWriter(d / "out.parquet", SCHEMA),
    lambda d: LastfmZipWriter(d / "lastfm_train.zip", "train"),
    lambda d: LastfmDbWriter(d / "lastfm_similars.db"),
    lambda d: MxmTextWriter(d / "mxm_dataset_train.txt", ["a"], ["TRAINING SET"]),
])
def test_a_failure_inside_the_block_leaves_nothing(tmp_path, make):
    with pytest.raises(RuntimeError, match="boom"), make(tmp_path):
        raise RuntimeError("boom")
    assert _only(tmp_path) == []


def test_json_csv_and_shard_manifest(tmp_path):
    write_json(tmp_path / "r" / "a.json", {"b": [1, 2]})
    assert json.loads((tmp_path / "r" / "a.json").read_text()) == {"b": [1, 2]}
    write_csv(tmp_path / "c.csv", ["x", "y"], [(1, 2), (3, 4)])
    assert (tmp_path / "c.csv").read_text().splitlines() == ["x,y", "1,2", "3,4"]
    w = ShardWriter(tmp_path / "s", SCHEMA, 2)
    for i in range(5):
        w.add({"x": i})
    man = w.write_manifest({"frames": 3})
    assert man["rows"] == 5 and [s["rows"] for s in man["shards"]] == [2, 2, 1] and man["frames"] == 3
