"""Atomic file writes and a streaming Parquet shard writer with a manifest."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; published outputs are world-readable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file beside it, then rename)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def clean_stale_temps(folder: str | Path) -> int:
    """Remove what a killed run left in ``folder``: ``atomic_path`` temp files (``.<name>.*.tmp``) and
    extract_pairs' spill folders (``.pairs-buckets-*``). Stages call it on their output folders at start
    (DVC runs one stage of a repo at a time). Returns how many were removed."""
    import shutil

    folder = Path(folder)
    if not folder.is_dir():
        return 0
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()] + [p for p in folder.glob(".pairs-buckets-*")
                                                                  if p.is_dir()]
    for p in stale:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return len(stale)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: str | Path, obj) -> None:
    """Every JSON output of the pipeline (reports, metrics, manifests): indented, atomic."""
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def write_csv(path: str | Path, header: list[str], rows) -> None:
    """Every CSV output of the pipeline (plot data, histories): one header row, atomic."""
    import csv

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def write_table(table: pa.Table, path: str | Path, schema: pa.Schema | None = None) -> None:
    """Write one Parquet file atomically, casting to ``schema`` when given."""
    if schema is not None:
        table = table.cast(schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


class AtomicWriter:
    """A file written through a handle on a temporary path beside ``path``: it appears at ``path`` only
    when closed without error; ``close(ok=False)``, or an exception inside a ``with`` block, discards it.
    Subclasses open their handle on ``self.tmp`` and release it in ``_finish``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._ctx = atomic_path(self.path)
        self.tmp = self._ctx.__enter__()

    def _finish(self, ok: bool) -> None:
        """Flush and close the handle (``ok`` False: the file is being discarded)."""

    def close(self, ok: bool = True) -> None:
        try:
            self._finish(ok)
        except BaseException as e:
            self._ctx.__exit__(type(e), e, None)
            raise
        self._ctx.__exit__(*((None, None, None) if ok else (RuntimeError, RuntimeError("aborted"), None)))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


class ParquetStreamWriter(AtomicWriter):
    """Append record batches to one Parquet file; the file appears (atomically) on close."""

    def __init__(self, path: str | Path, schema: pa.Schema):
        super().__init__(path)
        self.schema = schema
        self._writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")

    def write(self, columns: dict[str, list | pa.Array]) -> None:
        batch = pa.record_batch(columns, schema=self.schema)
        if batch.num_rows:
            # write_table closes a row group per call; write_batch would keep appending to one open
            # row group (up to 1M rows), holding the whole output in memory
            self._writer.write_table(pa.Table.from_batches([batch]))

    def _finish(self, ok: bool) -> None:
        self._writer.close()


def _column(values: list, typ: pa.DataType) -> pa.Array:
    """Arrow column from buffered values; fixed-size lists of numpy rows go through one buffer."""
    if pa.types.is_fixed_size_list(typ) and values and hasattr(values[0], "dtype"):
        import numpy as np

        flat = pa.array(np.concatenate(values), type=typ.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, typ.list_size)
    return pa.array(values, type=typ)


class ShardWriter:
    """Write rows into ``part-NNNNN.parquet`` shards of at most ``rows_per_shard`` rows.

    Rows are buffered up to one shard; each shard is written atomically. ``close`` writes
    ``manifest.json`` listing every shard with its row count and byte size. Stale shards from an
    earlier run in the same folder are removed first so the folder always matches its manifest.
    """

    def __init__(self, out_dir: str | Path, schema: pa.Schema, rows_per_shard: int):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for old in [*self.out_dir.glob("part-*.parquet"), self.out_dir / "manifest.json"]:
            old.unlink(missing_ok=True)  # the folder never holds another run's shards or manifest
        self.schema = schema
        self.rows_per_shard = rows_per_shard
        self._buf: dict[str, list] = {name: [] for name in schema.names}
        self._n = 0
        self.shards: list[dict] = []

    def add(self, row: dict) -> None:
        for name in self.schema.names:
            self._buf[name].append(row[name])
        self._n += 1
        if self._n >= self.rows_per_shard:
            self.flush()

    def flush(self) -> None:
        if not self._n:
            return
        name = f"part-{len(self.shards):05d}.parquet"
        table = pa.table({k: _column(v, self.schema.field(k).type) for k, v in self._buf.items()}, schema=self.schema)
        path = self.out_dir / name
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.shards.append({"file": name, "rows": self._n, "bytes": path.stat().st_size})
        self._buf = {k: [] for k in self.schema.names}
        self._n = 0

    def write_manifest(self, extra: dict | None = None) -> dict:
        """Flush the last shard and write ``manifest.json`` (shards, rows, bytes, schema, ``extra``)."""
        self.flush()
        manifest = {
            "shards": self.shards,
            "rows": sum(s["rows"] for s in self.shards),
            "bytes": sum(s["bytes"] for s in self.shards),
            "schema": {f.name: str(f.type) for f in self.schema},
            **(extra or {}),
        }
        write_json(self.out_dir / "manifest.json", manifest)
        return manifest

    def close(self) -> dict:
        return self.write_manifest()
