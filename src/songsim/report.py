"""Stage reports: what was read, kept and quarantined (with reasons), and how fast."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from songsim.writers import write_json

log = logging.getLogger(__name__)


class QuarantineError(RuntimeError):
    """Too much input was quarantined: a systemic problem, not a few bad records."""


@dataclass
class StageReport:
    """Counts for one stage.

    ``quarantined`` counts bad input (with reasons); ``dropped`` counts records removed on purpose by
    a param (e.g. below ``min_score``) or merged into another (duplicates). Invariant:
    ``read == kept + quarantined + dropped``; only the quarantined fraction can fail a stage.
    """

    stage: str
    unit: str = "records"
    read: int = 0
    kept: int = 0
    reasons: Counter = field(default_factory=Counter)
    drops: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    _t0: float = field(default_factory=time.perf_counter)

    @property
    def quarantined(self) -> int:
        return sum(self.reasons.values())

    @property
    def dropped(self) -> int:
        return sum(self.drops.values())

    def drop(self, reason: str, n: int = 1) -> None:
        self.read += n
        self.drops[reason] += n

    def keep(self, n: int = 1) -> None:
        self.read += n
        self.kept += n

    def quarantine(self, reason: str, where: str, n: int = 1) -> None:
        """Count ``n`` input records as quarantined for ``reason``; ``where`` names file and line."""
        self.read += n
        self.reasons[reason] += n
        ex = self.examples.setdefault(reason, [])
        if len(ex) < 5:
            ex.append(where)
        log.warning("%s: quarantined (%s) at %s", self.stage, reason, where)

    def check(self, max_frac: float) -> None:
        """Fail if the quarantined fraction is above ``max_frac`` or counts do not reconcile."""
        if self.read != self.kept + self.quarantined + self.dropped:  # pragma: no cover - invariant
            raise AssertionError(f"{self.stage}: read {self.read} != kept + quarantined + dropped")
        if self.read and self.quarantined / self.read > max_frac:
            raise QuarantineError(
                f"{self.stage}: {self.quarantined} of {self.read} {self.unit} quarantined "
                f"({self.quarantined / self.read:.1%} > max_quarantine_frac {max_frac:.1%}); "
                f"reasons: {dict(self.reasons)}; examples: {self.examples}"
            )

    def to_dict(self) -> dict[str, Any]:
        seconds = time.perf_counter() - self._t0
        return {
            "stage": self.stage,
            "unit": self.unit,
            "read": self.read,
            "kept": self.kept,
            "quarantined": self.quarantined,
            "reasons": dict(sorted(self.reasons.items())),
            "dropped": self.dropped,
            "drop_reasons": dict(sorted(self.drops.items())),
            "examples": self.examples,
            "seconds": round(seconds, 3),
            "throughput_per_s": round(self.read / seconds, 1) if seconds > 0 else None,
            **self.extra,
        }

    def counts(self) -> dict[str, Any]:
        return {"read": self.read, "kept": self.kept, "quarantined": self.quarantined,
                "reasons": dict(sorted(self.reasons.items())), "dropped": self.dropped,
                "drop_reasons": dict(sorted(self.drops.items())), "examples": self.examples}

    def write(self, path: str | Path) -> dict[str, Any]:
        d = self.to_dict()
        write_json(path, d)
        log.info("%s: read %d, kept %d, quarantined %d", self.stage, self.read, self.kept, self.quarantined)
        return d
