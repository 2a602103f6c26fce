"""Readers, one module per source format. Readers stream records and never load a whole dataset.

Per-record problems are yielded as :class:`BadRecord` values (so a stage can quarantine and count
them); problems that make a whole source unusable raise :class:`FormatError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TRACK_ID = re.compile(r"^TR[A-Z0-9]{16}$")


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
