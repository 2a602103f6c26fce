"""CPU threads for training, so that several trainings on one machine share its cores.

torch starts one intra-op thread per core in every process, and its OpenMP threads spin while they
wait: two trainings on two cores then run four busy threads on two cores, and each runs 10-30x slower
than alone (issue 12). Every songsim training registers its process id in a shared folder; with
``train.threads: 0`` (auto) each takes ``cores // trainings running`` threads, re-read every 50 steps,
so a job started alone gives cores back when a second one starts. ``OMP_NUM_THREADS`` or a positive
``train.threads`` fixes the count instead (for bit-identical CPU runs whatever else is running: the
float sums of a few kernels depend on the thread count).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)

ENV_DIR = "SONGSIM_TRAININGS_DIR"  # where trainings register; default <tmp>/songsim-trainings


def registry_dir() -> Path:
    return Path(os.environ.get(ENV_DIR) or Path(tempfile.gettempdir()) / "songsim-trainings")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's training
        return True
    return True


class CpuShare:
    """This process's share of the CPU while it trains; a context manager that registers it."""

    def __init__(self, requested: int):
        self.requested = requested
        self.steps = 0
        self.path = registry_dir() / str(os.getpid())

    def __enter__(self) -> CpuShare:
        try:
            d = self.path.parent
            if not d.is_dir():
                d.mkdir(parents=True, exist_ok=True)
                d.chmod(0o1777)  # like /tmp: every user's trainings register, none removes another's
            self.path.touch()
        except OSError as e:  # the count then misses this process; never a reason to fail a training
            log.warning("could not register in %s (%s); threads are chosen as if alone", self.path.parent, e)
        try:  # inter-op threads run nothing in this loop; one is enough (only settable before first use)
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass

    def running(self) -> int:
        """songsim trainings alive on this machine, this one included (stale entries are removed)."""
        n = 0
        try:
            entries = list(self.path.parent.iterdir())
        except OSError:
            return 1
        for p in entries:
            if p.name.isdigit() and _alive(int(p.name)):
                n += 1
            elif p.name.isdigit():
                p.unlink(missing_ok=True)
        return max(1, n)

    def threads(self) -> int:
        if self.requested > 0:
            return self.requested
        env = os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and int(env) > 0:
            return int(env)
        return max(1, available_cores() // self.running())

    def tick(self, every: int = 50) -> None:
        """Called after each optimiser step: re-read the share every ``every`` steps (a job started
        alone gives cores back soon after a second one starts, not only at its next epoch)."""
        self.steps += 1
        if self.requested == 0 and self.steps % every == 0:
            self.apply()

    def apply(self) -> int:
        """Set torch's intra-op threads to this process's share now; returns the count."""
        t = self.threads()
        if t != torch.get_num_threads():
            log.info("torch CPU threads: %d -> %d", torch.get_num_threads(), t)
            torch.set_num_threads(t)
        return t
