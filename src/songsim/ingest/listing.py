"""Stage list_msd: the MSD tree (``raw.msd``, one ``.h5`` file per song, a million of them in the real data)
-> a small Parquet listing of its files (relative path, size, modification time), which is what
``chunk_audio`` and ``fidelity`` depend on and read instead of the tree itself.

DVC hashes every file of a directory dependency on every ``dvc status`` or ``dvc repro``: at a million files
that is most of a minute and gigabytes of memory before any stage runs. The listing stage is declared
``always_changed`` and re-lists the tree on every ``dvc repro`` with one ``stat`` per file (seconds at a
million files, memory bounded by one batch); the listing's own hash is what the stages after it see, so an
unchanged tree re-runs nothing, and an added, removed, resized or touched file re-runs ``chunk_audio``.
A file rewritten in place with the same size and modification time is not seen (as with ``make``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from songsim.core import schemas
from songsim.core.config import section
from songsim.core.report import StageReport
from songsim.core.writers import ParquetStreamWriter

log = logging.getLogger(__name__)
SUFFIX = ".h5"
BATCH = 65_536  # rows per row group: memory is one batch, whatever the tree's size


class ListingError(RuntimeError):
    """A listing that cannot be made (unreadable tree) or does not match the tree it is read for."""


def walk(root: Path, report: StageReport) -> Iterator[tuple[str, int, int]]:
    """``(relative path, size, mtime_ns)`` of every ``*.h5`` file below ``root`` (or ``root`` itself), in
    tree order: depth first, names sorted at every level, so the same tree always gives the same listing.
    Directory links are not followed (as ``Path.rglob``); a file link is listed with its target's stat, and
    a broken one is quarantined. Other files are counted as ``skipped_other``."""
    if root.is_file():
        st = root.stat()
        report.keep()
        yield ".", st.st_size, st.st_mtime_ns
        return
    if not root.is_dir():
        raise ListingError(f"{root}: no such file or directory (raw.msd)")
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        path, rel = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            raise ListingError(f"{path}: cannot list this folder of raw.msd ({e.strerror})") from None
        subdirs = []
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                subdirs.append((e.path, f"{rel}{e.name}/"))
            elif not e.name.endswith(SUFFIX):
                report.extra["skipped_other"] = report.extra.get("skipped_other", 0) + 1
            else:
                try:
                    st = e.stat()
                except OSError as err:
                    report.quarantine("unreadable_file", f"{e.path}: {err.strerror}")
                    continue
                report.keep()
                yield f"{rel}{e.name}", st.st_size, st.st_mtime_ns
        stack.extend(reversed(subdirs))  # the first subfolder is walked next: depth first, in name order


def write_listing(root: str | Path, out: str | Path, max_quarantine_frac: float = 0.0) -> StageReport:
    """List ``root`` into the Parquet file ``out`` (atomically), streaming one batch at a time. Unreadable
    files are quarantined and counted; above ``max_quarantine_frac`` of them the stage fails."""
    report = StageReport("list_msd", unit="files")
    report.extra["skipped_other"] = 0
    writer = ParquetStreamWriter(out, schemas.listing_schema(str(root)))
    cols: dict[str, list] = {"path": [], "size": [], "mtime_ns": []}
    total = 0
    try:
        for rel, size, mtime in walk(Path(root), report):
            cols["path"].append(rel)
            cols["size"].append(size)
            cols["mtime_ns"].append(mtime)
            total += size
            if len(cols["path"]) >= BATCH:
                writer.write(cols)
                cols = {k: [] for k in cols}
        writer.write(cols)
        if report.kept == 0:
            raise ListingError(f"{root}: no {SUFFIX} files found (raw.msd)")
        report.check(max_quarantine_frac)  # before the listing appears: a failed stage leaves none
    except BaseException:
        writer.close(ok=False)
        raise
    writer.close()
    report.extra.update(bytes=total, root=str(root))
    log.info("list_msd: %d files, %.1f GB under %s, listed in %.1f s", report.kept, total / 1e9, root,
             report.to_dict()["seconds"])
    return report


def listing_root(listing: str | Path) -> str:
    """The tree a listing lists (as the params named it when it was made)."""
    return pq.read_schema(listing).metadata[b"root"].decode()


def listed_files(listing: str | Path, root: str | Path) -> tuple[int, Iterator[Path]]:
    """How many files ``listing`` holds, and their paths under ``root``, streamed in listing order.
    ``root`` must be the tree the listing was made of: a listing of another tree (``raw.msd`` changed and
    the listing stage not re-run) is an error, not a silent read of the wrong files."""
    made_of = listing_root(listing)
    if os.path.normpath(made_of) != os.path.normpath(str(root)):
        raise ListingError(f"{listing} lists {made_of}, but raw.msd is {root}: run the list_msd stage "
                           f"(dvc repro list_msd) first")
    pf = pq.ParquetFile(listing)
    base = Path(root)

    def paths() -> Iterator[Path]:
        for batch in pf.iter_batches(batch_size=BATCH, columns=["path"]):
            for rel in batch.column(0).to_pylist():
                yield base if rel == "." else base / rel

    return pf.metadata.num_rows, paths()


def run(params: dict) -> dict:
    """The DVC stage: ``raw.msd`` -> ``paths.msd_listing`` + its report (unreadable files are held to
    ``chunk_audio.max_quarantine_frac``, the share of bad songs ``chunk_audio`` tolerates)."""
    paths, raw = section(params, "paths"), section(params, "raw")
    rep = write_listing(raw.msd, paths.msd_listing, section(params, "chunk_audio").max_quarantine_frac)
    # no timings in its report: the stage runs at every `dvc repro`, and an unchanged tree must give the same
    # bytes, or dvc.lock would change each time (the log line gives the time)
    return rep.write(paths.report("list_msd"), timed=False)
