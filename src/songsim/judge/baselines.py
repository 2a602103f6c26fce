"""The trivial baselines' song features, shared by the pair and the ranking evaluation: TF-IDF rows of the
songs' bags of words and standardised mean-audio vectors, and the cosines they give the pairs. A song
without the baseline's modality gets an all-zero row: its cosines are 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy import sparse

from songsim.core.metrics import document_frequency_idf, row_cosine, tfidf_matrix
from songsim.core.ranking import blocks
from songsim.learn.data import PairData, SongTable


def tfidf_rows(lyrics_path: str | Path, fit_ids: set[str], ids: list[str]):
    """L2-normalised TF-IDF rows (CSR, in the order of ``ids``) of the songs' bags of words, with the
    document frequencies of the ``fit_ids`` songs (the training songs) that have lyrics. A song without
    lyrics gets an all-zero row (every cosine with it is 0: the baseline cannot see it)."""
    pos, indptr, cols, vals = read_bags(lyrics_path, sorted(set(ids) | fit_ids), missing_ok=True)
    vocab = max(int(cols.max()) if len(cols) else 1, 1)
    fit = np.array(sorted(pos[x] for x in fit_ids if x in pos), dtype=np.int64)
    fit_cols = np.concatenate([cols[indptr[i]:indptr[i + 1]] for i in fit]) if len(fit) else cols[:0]
    idf = document_frequency_idf(fit_cols, len(fit), vocab)
    m, _ = tfidf_matrix(indptr, cols, vals, vocab, idf)
    if all(x in pos for x in ids):
        return m[[pos[x] for x in ids]]
    zero = len(pos)  # one all-zero row after the songs with lyrics
    m = sparse.vstack([m, sparse.csr_matrix((1, m.shape[1]), dtype=m.dtype)], format="csr")
    return m[[pos.get(x, zero) for x in ids]]


def read_bags(lyrics_path: str | Path, track_ids: list[str], missing_ok: bool = False
              ) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """The bags of words of ``track_ids`` from a lyrics table: ``pos`` (track id -> its row, one per song,
    in the table's order) and the CSR arrays of :func:`flat_bags`. A track without lyrics is a KeyError
    naming the file, or with ``missing_ok`` absent from ``pos``."""
    t = pq.read_table(lyrics_path, columns=["track_id", "word_ids", "counts"],
                      filters=pc.field("track_id").isin(track_ids))
    pos = {x: i for i, x in enumerate(t.column("track_id").to_pylist())}
    missing = [x for x in track_ids if x not in pos]
    if missing and not missing_ok:
        raise KeyError(f"{lyrics_path}: {len(missing)} track(s) have no lyrics, e.g. {missing[0]}")
    return (pos, *flat_bags(t))


def flat_bags(t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays (indptr, word ids, counts as float64) of a lyrics table's ``word_ids``/``counts`` lists."""
    words, counts = t.column("word_ids").combine_chunks(), t.column("counts").combine_chunks()
    offsets = words.offsets.to_numpy().astype(np.int64)
    indptr = offsets - offsets[0]
    cols = words.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    vals = counts.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    return indptr, cols, vals


def pair_rows(*pairs: PairData) -> np.ndarray:
    """The distinct song rows the pairs use, ascending."""
    return np.unique(np.concatenate([np.concatenate([p.src, p.tgt]) for p in pairs]))


PAIR_BLOCK = 65536  # pairs whose two songs' rows are gathered at once (here and in evaluate_ranking.pair_dots)


def pair_cosines(mat, pairs: list[PairData], block: int = PAIR_BLOCK) -> list[np.ndarray]:
    """Per pair set, the dot product of both songs' rows of a song matrix ``mat`` (sparse or dense; unit
    rows: a cosine), ``block`` pairs at a time: a sparse TF-IDF row gathered per pair takes about 16 bytes a
    word, so the gathered rows are held for one block, not for every pair; each pair's value is the same."""
    out = []
    for p in pairs:
        parts = [row_cosine(mat[p.src[sl]], mat[p.tgt[sl]]) for sl in blocks(len(p), block)]
        out.append(np.concatenate(parts) if parts else row_cosine(mat[p.src], mat[p.tgt]))
    return out


def audio_unit_means(songs: SongTable, fit_rows: np.ndarray) -> np.ndarray:
    """Per song, the mean timbre+chroma vector standardised with the ``fit_rows`` songs' statistics and
    scaled to unit length ``(S, 24)``: its dot products are the mean-audio cosines."""
    means = songs.audio.astype(np.float32).mean(axis=2)  # (S, 24)
    has = songs.has_audio if songs.has_audio is not None else np.ones(len(songs), dtype=bool)
    fit_rows = fit_rows[has[fit_rows]]
    mu, sd = means[fit_rows].mean(0), means[fit_rows].std(0) + 1e-6
    z = np.where(has[:, None], (means - mu) / sd, 0.0)  # a song without audio: an all-zero row
    return z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9)
