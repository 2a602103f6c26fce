"""Stage expand_lyrics: token expansion orders, genuine files, duplicates."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from songsim.core.config import ExpandLyricsConfig
from songsim.ingest.lyrics import expand_lyrics, expand_tokens


def test_expand_tokens_orders():
    seq, n = expand_tokens([2, 5], [3, 1], 6)
    assert n == 4 and seq.tolist() == [2, 2, 2, 5, 0, 0]
    seq, n = expand_tokens([2, 5], [3, 1], 3)
    assert n == 3 and seq.tolist() == [2, 2, 2]
    s1, _ = expand_tokens([2, 5, 7], [3, 2, 2], 7, np.random.default_rng(0))
    s2, _ = expand_tokens([2, 5, 7], [3, 2, 2], 7, np.random.default_rng(0))
    assert s1.tolist() == s2.tolist() and sorted(s1.tolist()) == [2, 2, 2, 5, 5, 7, 7]


def test_expand_lyrics_real_and_duplicates(realdata, tmp_path):
    src = tmp_path / "mxm"
    src.mkdir()
    body = (realdata / "mxm" / "mxm_dataset_train.excerpt_b.txt").read_text(encoding="utf-8")
    (src / "mxm_dataset_train.txt").write_text(body, encoding="utf-8")
    lines = body.splitlines()
    dup = next(l for l in lines if l.startswith("TR"))
    (src / "mxm_dataset_test.txt").write_text("\n".join(l for l in lines if l.startswith(("#", "%")))
                                              + "\n" + dup + "\nTRAAAAA128F0000000,1,9999:1\n", encoding="utf-8")
    cfg = ExpandLyricsConfig(max_len=300, word_order="vocab", seed=0, max_quarantine_frac=0.05)
    rep = expand_lyrics(src, tmp_path / "lyrics.parquet", tmp_path / "vocab.parquet", cfg)
    assert (rep.read, rep.kept, rep.quarantined) == (116, 114, 2)
    assert rep.reasons == {"duplicate_track_id": 1, "index_out_of_vocab": 1}
    t = pq.read_table(tmp_path / "lyrics.parquet")
    assert t.num_rows == 114
    row = t.slice(0, 1).to_pylist()[0]
    assert row["length"] == min(300, sum(row["counts"]))
    assert row["tokens"][: row["length"]] == sorted(row["tokens"][: row["length"]])
    assert pq.read_table(tmp_path / "vocab.parquet").num_rows == 5000


def test_a_failing_run_writes_neither_table(tmp_path):
    p = tmp_path / "mxm_dataset_test.txt"
    p.write_text("%i,the\n" + "".join(f"TR{i:016d},1,9:1\n" for i in range(10)))  # every line out of vocab
    cfg = ExpandLyricsConfig(max_len=8, word_order="vocab", seed=0, max_quarantine_frac=0.1)
    with pytest.raises(Exception, match="max_quarantine_frac"):
        expand_lyrics(p, tmp_path / "lyrics.parquet", tmp_path / "vocab.parquet", cfg)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["mxm_dataset_test.txt"]
