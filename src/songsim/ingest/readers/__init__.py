"""Readers, one module per source format. Readers stream records and never load a whole dataset.

Per-record problems are yielded as :class:`BadRecord` values (so a stage can quarantine and count
them); problems that make a whole source unusable raise :class:`FormatError`.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

TRACK_ID = re.compile(r"TR[A-Z0-9]{16}")  # use .fullmatch: "$" would accept a trailing newline


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Open an input database read-only and immutable: no journal, ``-wal`` or ``-shm`` file is ever
    created beside it, whatever its journal mode."""
    return sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro&immutable=1", uri=True)


def is_track_id(x: object) -> bool:
    """An MSD track id: ``TR`` + 16 upper-case letters or digits, nothing before or after."""
    return isinstance(x, str) and TRACK_ID.fullmatch(x) is not None


class FormatError(ValueError):
    """A source cannot be read at all; the message names the file (and line)."""


@dataclass(frozen=True)
class BadRecord:
    """One unreadable record: ``reason`` is a short category, ``where`` names file and line."""

    reason: str
    where: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}{': ' + self.detail if self.detail else ''}"
