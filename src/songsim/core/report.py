"""Stage reports: what was read, kept and quarantined (with reasons), and how fast."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from songsim.core.writers import write_json

log = logging.getLogger(__name__)


LOGGED_PER_REASON = 3  # quarantine warnings logged per reason
HINTS = {  # what to do when one reason dominates a failing stage
    "duplicate_track_id": "The input holds the same tracks twice (e.g. overlapping files in one folder): point "
                          "it at files that do not overlap, or raise max_quarantine_frac to keep the first copies",
    "not_msd": "The tree holds HDF5 files that are not MSD song files: point raw.msd at the MSD data/ folder",
    "malformed_json": "The files are not Last.fm track JSON: check raw.lastfm",
}


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
        if self.reasons[reason] <= LOGGED_PER_REASON:  # a few lines per reason; the report has the counts
            log.warning("%s: quarantined (%s) at %s%s", self.stage, reason, where,
                        " (further ones are counted in the report)" if self.reasons[reason] == LOGGED_PER_REASON
                        else "")

    def check(self, max_frac: float) -> None:
        """Fail if the quarantined fraction is above ``max_frac`` or counts do not reconcile."""
        if self.read != self.kept + self.quarantined + self.dropped:  # pragma: no cover - invariant
            raise AssertionError(f"{self.stage}: read {self.read} != kept + quarantined + dropped")
        if self.read and self.quarantined / self.read > max_frac:
            hint = HINTS.get(self.reasons.most_common(1)[0][0], "")
            raise QuarantineError(
                f"{self.stage}: {self.quarantined} of {self.read} {self.unit} quarantined "
                f"({self.quarantined / self.read:.1%} > max_quarantine_frac {max_frac:.1%}); "
                f"reasons: {dict(self.reasons)}; examples: "
                f"{ {k: v[:2] for k, v in self.examples.items() if k in self.reasons} }" + (f". {hint}" if hint else "")
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

    def write(self, path: str | Path, timed: bool = True) -> dict[str, Any]:
        """Write the report as JSON; ``timed=False`` leaves out the run's seconds and throughput, so that the
        same input gives the same bytes (a stage re-run at every ``dvc repro`` keeps ``dvc.lock`` still)."""
        d = self.to_dict()
        if not timed:
            d = {k: v for k, v in d.items() if k not in ("seconds", "throughput_per_s")}
        write_json(path, d)
        log.info("%s: read %d, kept %d, quarantined %d%s; report %s", self.stage, self.read, self.kept,
                 self.quarantined, f" {dict(self.reasons)}" if self.reasons else "", path)
        return d
