"""Data-parallel training over processes, GPUs and machines with ``torchrun`` + DistributedDataParallel.

``train.nproc: N`` (N > 1) makes the ``train`` stage start itself again under
``python -m torch.distributed.run --standalone --nproc_per_node N`` (one machine); for several machines
run ``torchrun --nnodes ... --rdzv-endpoint ...`` on each yourself (README "Training at scale"). Under
torchrun each process reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from its environment, joins the
process group (nccl on CUDA, one GPU per process; gloo on CPU), trains on its stride of each global
batch, and rank 0 alone writes checkpoints, history and reports.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from songsim.core.config import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def under_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def main_process() -> bool:
    """Rank 0 under torchrun, or any process started without it."""
    return not under_torchrun() or os.environ.get("RANK") == "0"


def relaunch(nproc: int) -> int:
    """Run this very command again as ``nproc`` local torchrun workers; returns their exit code."""
    script = Path(sys.argv[0])
    if not script.is_file():  # e.g. python -c, or an interactive session
        raise ConfigError(f"train.nproc is {nproc}: start training through stages/train.py or `songsim train`, "
                          f"or launch torchrun yourself (README 'Training at scale')")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           str(script), *sys.argv[1:]]
    log.info("train.nproc=%d: %s", nproc, " ".join(cmd))
    return subprocess.run(cmd, check=False).returncode


def setup(device_name: str) -> tuple[Ranks, torch.device | None]:
    """Join the process group when started by torchrun; ``(Ranks(), None)`` otherwise.

    Returns the device of this rank (``cuda:LOCAL_RANK`` or ``cpu``)."""
    if not under_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return Ranks(), None
    ranks = Ranks(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if use_cuda:
        if ranks.local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"rank {ranks.rank}: LOCAL_RANK {ranks.local_rank} but this machine has "
                               f"{torch.cuda.device_count()} GPUs (use --nproc-per-node <= GPUs)")
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    log.info("rank %d of %d on %s (%s)", ranks.rank, ranks.world, device, dist.get_backend())
    return ranks, device


def teardown(ranks: Ranks) -> None:
    if ranks.active and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(x: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """Sum of ``x`` over ranks (in place; ``x`` unchanged with one rank)."""
    if ranks.active:
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def from_main(obj, ranks: Ranks):
    """Rank 0's ``obj`` on every rank (pickled through the process group: small control data only)."""
    if not ranks.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
