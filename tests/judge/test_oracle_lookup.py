"""The oracle look-up of the evaluation: the world's oracle file read in batches gives what one read gave."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import songsim.judge.evaluate as ev
from songsim.learn.data import PairData, SongTable


def test_oracle_read_in_batches_is_the_one_read_answer(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    ids = [f"TR{i:04d}" for i in range(300)]
    src, tgt = rng.integers(0, 300, 5000), rng.integers(0, 300, 5000)
    # many pairs listed more than once (either direction, another value): the first listing wins
    pq.write_table(pa.table({"src": [ids[i] for i in src], "tgt": [ids[j] for j in tgt],
                             "oracle": rng.random(5000).astype(np.float32)}), tmp_path / "oracle.parquet",
                   row_group_size=700)
    songs = SongTable(ids[:200], None, None, None)  # a third of the oracle's tracks have no song here
    p_src, p_tgt = rng.integers(0, 200, 900).astype(np.int32), rng.integers(0, 200, 900).astype(np.int32)
    pairs = PairData(p_src, p_tgt, np.zeros(900, np.float32), np.zeros(900, np.int8), np.ones(900, bool))
    whole = ev.oracle_lookup(tmp_path / "oracle.parquet", pairs, songs)  # 1M rows a batch: one batch
    monkeypatch.setattr(ev, "ORACLE_BATCH", 64)
    batched = ev.oracle_lookup(tmp_path / "oracle.parquet", pairs, songs)
    assert np.isfinite(whole).sum() > 50 and np.isnan(whole).sum() > 500
    assert batched.tobytes() == whole.tobytes()
