"""Small random song tables and pairs for unit tests (no world, no files)."""

import numpy as np

from songsim.learn.data import PairData, SongTable


def random_songs(n=30, length=12, frames=16, vocab=50, seed=0) -> SongTable:
    """``n`` songs with 1..``length`` tokens (ids 1..vocab-1, 0-padded) and ``frames`` audio frames."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, length + 1, n).astype(np.int32)
    tokens = np.zeros((n, length), dtype=np.int16)
    for i, m in enumerate(lengths):
        tokens[i, :m] = rng.integers(1, vocab, m)
    audio = rng.normal(size=(n, 24, frames)).astype(np.float16)
    return SongTable([f"TR{i:016d}" for i in range(n)], tokens, lengths, audio)


def random_pairs(n_pairs=203, n_songs=30, seed=1) -> PairData:
    rng = np.random.default_rng(seed)
    src, tgt = (rng.integers(0, n_songs, n_pairs).astype(np.int32) for _ in range(2))
    score = rng.random(n_pairs).astype(np.float32)
    return PairData(src, tgt, score, (score > 0.5).astype(np.int8), np.ones(n_pairs, bool))


def live_history(live_dir, short: str, key: str) -> dict[int, float]:
    """{epoch: value}, in file order, of the rows DVCLive wrote for ``live/<short>/<key>`` under ``live_dir``."""
    import csv
    from pathlib import Path

    with open(Path(live_dir) / "plots" / "metrics" / "live" / short / f"{key}.tsv") as fh:
        rows = [(int(r["step"]), float(r[key])) for r in csv.DictReader(fh, delimiter="\t")]
    assert len({e for e, _ in rows}) == len(rows), f"an epoch logged twice: {rows}"
    return dict(rows)
