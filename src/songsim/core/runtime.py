"""Process-wide runtime settings applied by every entry point (stage scripts, CLI)."""

from __future__ import annotations

import logging

import pyarrow as pa

log = logging.getLogger(__name__)


def configure_arrow_memory() -> str:
    """Use jemalloc (else the system allocator) for Arrow buffers.

    pyarrow's default pool on these wheels is mimalloc, which keeps the fragmented pages of finished
    batches: over a long stream, peak RSS then creeps up with the dataset size (measured in
    bench/bench_memory.py: expand_lyrics +20% for 10x the data with mimalloc, +11% with jemalloc).
    """
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    log.debug("arrow memory pool: %s", pool.backend_name)
    return pool.backend_name
