"""Writer of the GloVe text format (the mirror of ``ingest.readers.glove``'s text reader): ``word v1 v2 ...``
per line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from songsim.core.writers import atomic_path


def write_glove_text(path: str | Path, rows: Iterable[tuple[str, np.ndarray]]) -> int:
    """Write ``(word, vector)`` rows (5 significant digits, like the published files); returns the count."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for word, vec in rows:
            fh.write(word + " " + " ".join(f"{x:.5g}" for x in vec) + "\n")
            n += 1
    return n
