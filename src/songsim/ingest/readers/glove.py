"""GloVe word vectors: the official text layout, or a ``.npy`` matrix plus a word-list Parquet.

Only vectors of the requested vocabulary are kept, so memory does not depend on the GloVe file size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from songsim.ingest.readers import FormatError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GloveMatch:
    vectors: np.ndarray  # (len(vocab) + 1, dim) float32, row 0 = padding (zeros)
    found: np.ndarray  # (len(vocab) + 1,) bool, which rows came from GloVe
    dim: int
    coverage: dict  # counts for reports


def _match_text(path: Path, index: dict[str, int], n: int) -> tuple[np.ndarray | None, np.ndarray]:
    vecs: np.ndarray | None = None
    found = np.zeros(n + 1, dtype=bool)
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if vecs is None:
                dim = len(rest.split())
                if dim == 0:
                    raise FormatError(f"{path}:{lineno}: no vector values")
                vecs = np.zeros((n + 1, dim), dtype=np.float32)
            j = index.get(word)
            if j is None or found[j]:
                continue
            vals = rest.split()
            if len(vals) != vecs.shape[1]:
                raise FormatError(f"{path}:{lineno}: {len(vals)} values, expected {vecs.shape[1]}")
            try:
                vecs[j] = np.asarray(vals, dtype=np.float32)
            except ValueError as e:
                raise FormatError(f"{path}:{lineno}: non-numeric vector value ({e})") from e
            found[j] = True
    return vecs, found


def _match_npy(folder: Path, index: dict[str, int], n: int) -> tuple[np.ndarray, np.ndarray]:
    npys = sorted(folder.glob("*.npy"))
    idx = sorted(folder.glob("*index*.parquet"))
    if len(npys) != 1 or len(idx) != 1:
        raise FormatError(f"{folder}: expected one .npy matrix and one *index*.parquet word list")
    mat = np.load(npys[0], mmap_mode="r")
    words = pq.read_table(idx[0]).column(0).to_pylist()
    if len(words) != mat.shape[0]:
        raise FormatError(f"{folder}: {len(words)} words but {mat.shape[0]} vectors")
    vecs = np.zeros((n + 1, mat.shape[1]), dtype=np.float32)
    found = np.zeros(n + 1, dtype=bool)
    for row, w in enumerate(words):
        j = index.get(w)
        if j is not None and not found[j]:
            vecs[j] = mat[row]
            found[j] = True
    return vecs, found


def match_glove(path: str | Path, vocab: list[str], words: dict[str, str] | None = None) -> GloveMatch:
    """Vectors for ``vocab`` (word ``vocab[i]`` gets row ``i + 1``) with a coverage count.

    ``words`` (musiXmatch's reverse mapping, stem -> the word it stands for) un-stems the vocabulary
    before the look-up: a stem takes its word's vector, or its own where GloVe lacks the word
    (``don't`` is not a GloVe token, ``not`` is). Coverage reports both counts.
    """
    p = Path(path)
    if not p.exists():
        raise FormatError(f"{p}: no such GloVe file or folder")

    def lookup(keys: list[str]) -> tuple[np.ndarray | None, np.ndarray]:
        index = {w: i for i, w in enumerate(keys, 1)}
        return _match_npy(p, index, len(keys)) if p.is_dir() else _match_text(p, index, len(keys))

    vecs, found = lookup(vocab)
    if vecs is None:
        raise FormatError(f"{p}: empty GloVe file")
    n_stems = int(found.sum())
    if words:
        wvecs, wfound = lookup([words.get(v, v) for v in vocab])
        vecs = np.where(wfound[:, None], wvecs, vecs)
        found = wfound | found
    n_found = int(found.sum())
    cov = {"vocab": len(vocab), "found": n_found, "fraction": round(n_found / max(1, len(vocab)), 4),
           "found_as_stems": n_stems, "unstemmed": bool(words)}
    log.info("GloVe %s: %d of %d vocabulary words found (%d as stems)", p, n_found, len(vocab), n_stems)
    return GloveMatch(vecs, found, vecs.shape[1], cov)
