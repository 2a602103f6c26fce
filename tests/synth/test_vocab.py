"""The world's vocabulary: real GloVe words, Porter2 stems, a reverse mapping in the official layout."""

import numpy as np
import pyarrow.parquet as pq
import snowballstemmer

from songsim.ingest.readers.glove import match_glove
from songsim.ingest.readers.mxm import read_reverse_mapping
from songsim.synth.vocab import NON_ASCII_SHARE, build_vocabulary, glove_root


def test_stems_words_and_vectors_are_real():
    v = build_vocabulary(500)
    stem = snowballstemmer.stemmer("english").stemWord
    assert len(set(v.stems)) == 500 and all(stem(w) == s for s, w in zip(v.stems, v.words))
    assert sum(not s.isascii() for s in v.stems) == round(500 * NON_ASCII_SHARE)
    assert v.stems[:3] == ["the", "of", "to"]  # GloVe order: most frequent first
    words = pq.read_table(glove_root() / "glove_6B_index.parquet").column(0).slice(0, 100_000).to_pylist()
    mat = np.load(glove_root() / "glove_6B_50d_emb.npy", mmap_mode="r")
    row = words.index(v.words[123])
    assert np.array_equal(v.vectors[123], mat[row])
    assert build_vocabulary(500).stems == v.stems  # deterministic


def test_world_reverse_mapping_and_glove_file_unstem_the_vocabulary(tiny_world):
    from songsim.ingest.readers.mxm import MxmReader

    vocab = MxmReader(tiny_world / "mxm").vocab
    mapping = read_reverse_mapping(tiny_world / "mxm" / "mxm_reverse_mapping.txt")
    assert len(mapping) == len(vocab) == 5000 and set(mapping) == set(vocab)
    glove = tiny_world / "glove" / "glove.6B.50d.world.txt"
    before = match_glove(glove, vocab).coverage["found"]
    after = match_glove(glove, vocab, mapping).coverage
    assert before < after["found"] and 0.95 < after["fraction"] < 0.985  # like the official files: 4,828 of 5,000
