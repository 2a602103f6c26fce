"""The inner training loop, shared by ``train`` and ``bench/bench_train.py``: optimiser steps over
prepared batches with no host synchronisation, the loss and the learning-rate rule for large batches (the
model set-up done before the first step is in ``learn.setup``).

Nothing inside an epoch waits for the device: loss and absolute-error totals accumulate in device
tensors and are read once, after the epoch. The host prepares step ``k + 1`` while the device still runs
step ``k`` (CUDA kernels are queued asynchronously), which is all the prefetching a resident song table
needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from songsim.learn.artists import mate_positions
from songsim.learn.batches import SongStore, Step

Prepared = tuple[dict[str, torch.Tensor], torch.Tensor, Step]  # (model inputs, pair rows on device, step)


HUBER_DELTA = 0.1  # quadratic below a 0.1 error, linear above


def loss_fn(kind: str, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss in float32, outside autocast (binary_cross_entropy is not autocast-safe). ``kind``: a task
    (``classification`` -> BCE, ``regression`` -> MSE) or a regression loss of ``config.REGRESSION_LOSSES``.
    MSE fits the conditional mean, L1 the conditional median (what MAE rewards on skewed scores)."""
    pred = pred.float()
    if kind == "classification":
        return F.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), y)
    if kind == "l1":
        return F.l1_loss(pred, y)
    if kind == "huber":
        return F.huber_loss(pred, y, delta=HUBER_DELTA)
    if kind in ("regression", "mse"):
        return F.mse_loss(pred, y)
    raise ValueError(f"unknown loss {kind!r}")


def listwise_loss(r: torch.Tensor, scale: torch.Tensor, left: torch.Tensor, right: torch.Tensor, y: torch.Tensor,
                  slot_song: torch.Tensor | None = None, n_songs: int | None = None,
                  log_q: torch.Tensor | None = None, hits: torch.Tensor | None = None,
                  anchor_norm: bool = False) -> torch.Tensor:
    """In-batch listwise softmax with graded targets: for every batch song with a listed similar in the
    batch, cross-entropy between the Last.fm scores of its batch pairs (normalised to sum 1) and the
    softmax of ``scale`` x its ranking-space similarities to every other song of the batch.

    r: (U, D) ranking vectors; left/right: (P,) indices into r; y: (P,) targets (a score, or a 0/1
    label). When songs are encoded once per slot (no dedup), ``slot_song`` (U,) maps each slot to one of
    ``n_songs`` distinct songs, so a song is never its own negative. Mean over the songs with a positive
    target (0 when none has one), no host synchronisation. At catalog scale (``learn.negatives``): ``log_q``
    (n,) is subtracted from the logits (log-Q); ``hits`` (2, H), listed pairs given no target, are masked.

    ``anchor_norm``: each anchor's row of logits is divided by its squared norm, the summed weight of the
    modalities the anchor has (1 for a song with all of them, ``w_audio`` for a song with audio only), so a
    song lacking a modality ranks the batch at the same temperature as a full song. A query's order is the
    same either way (one positive factor per query): only the training signal changes."""
    if slot_song is not None:
        r = r.new_zeros(n_songs, r.shape[1]).index_copy(0, slot_song, r)  # one row per song (copies are equal)
        left, right = slot_song[left], slot_song[right]
    n = r.shape[0]
    logits = (r @ r.T) * scale  # (n, n)
    if anchor_norm:
        logits = logits / (r * r).sum(dim=1).clamp_min(1e-6)[:, None]
    eye = torch.eye(n, dtype=torch.bool, device=r.device)
    if log_q is not None:
        logits = logits - log_q[None, :]
    t = torch.zeros_like(logits)
    t.index_put_((left, right), y.float(), accumulate=True)
    t.index_put_((right, left), y.float(), accumulate=True)
    if hits is not None and hits.shape[1]:  # listed with the anchor, no target in this batch: not a negative
        listed = torch.zeros_like(eye).index_put_(tuple(hits), torch.ones_like(hits[0], dtype=torch.bool))
        eye = eye | (listed & (t == 0))
    logits = logits.masked_fill(eye, -1e4)
    t = t.masked_fill(eye, 0.0)
    mass = t.sum(dim=1)  # (n,)
    rows = (mass > 0).float()
    per_song = -((t / mass.clamp_min(1e-12)[:, None]) * F.log_softmax(logits, dim=1)).sum(dim=1)
    return (per_song * rows).sum() / rows.sum().clamp_min(1.0)


def artist_loss(r: torch.Tensor, anchor: torch.Tensor, mate: torch.Tensor, group: torch.Tensor,
                temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between songs and their artist mates (``learn.artists``): each anchor must pick out
    its own mate among the other anchors' mates, and each mate its own anchor.

    r: (U, D) ranking vectors; anchor/mate: (M,) indices into r; group: (M,) the anchors' artist codes:
    another anchor's mate of the same artist is a mate too, so it is masked rather than taught as a
    negative. Mean over the anchors (0 when fewer than 2), no host synchronisation."""
    a, m = r[anchor].float(), r[mate].float()  # (M, D) each
    n = a.shape[0]
    if n < 2:
        return r.sum() * 0.0  # keeps the graph: every parameter still takes part (DDP)
    logits = (a @ m.T) / temperature  # (M, M)
    eye = torch.eye(n, dtype=torch.bool, device=r.device)
    logits = logits.masked_fill((group[:, None] == group[None, :]) & ~eye, -1e4)
    target = torch.arange(n, device=r.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def distinct_slots(songs: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Host-side: None when every slot holds a distinct song, else (slot -> song index, song count)."""
    uniq, inv = np.unique(songs, return_inverse=True)
    return None if len(uniq) == len(songs) else (inv.astype(np.int64), len(uniq))


@dataclass(frozen=True)
class LrRule:
    """Learning rate for a global batch other than the one ``optim.lr`` was tuned at.

    ``linear`` (Goyal et al. 2017) multiplies lr by ``batch / base_batch``, ``sqrt`` (Krizhevsky 2014;
    the safer rule for Adam) by its square root, ``none`` keeps it. When the rate is scaled up, the
    first ``warmup_epochs`` epochs ramp it linearly, step by step, from the unscaled rate to the scaled one.
    """

    scaling: str  # none | linear | sqrt
    base_batch: int
    warmup_epochs: float

    def factor(self, batch: int) -> float:
        r = batch / self.base_batch
        return {"none": 1.0, "linear": r, "sqrt": math.sqrt(r)}[self.scaling]

    def warmup(self, batch: int, steps_per_epoch: int) -> Callable[[int], float] | None:
        """Multiplier of the scheduled lr at global step ``k`` (None: no warm-up)."""
        f = self.factor(batch)
        total = self.warmup_epochs * steps_per_epoch
        if f <= 1.0 or total <= 0:
            return None
        return lambda k: 1.0 if k >= total else 1.0 / f + (1.0 - 1.0 / f) * (k + 1) / total


def prepare(store: SongStore, steps: Iterable[Step]) -> Iterable[Prepared]:
    """Each step's inputs, gathered on the store's device when the loop asks for them."""
    for s in steps:
        batch, rows = store.batch(s)
        yield batch, rows, s


def train_steps(model: nn.Module, opt: torch.optim.Optimizer, batches: Iterable[Prepared], y: torch.Tensor,
                loss_kind: str, amp: bool, world: int = 1, lr_mult: Callable[[int], float] | None = None,
                first_step: int = 0, on_step: Callable[[], object] | None = None, rank_weight: float = 0.0,
                rank_y: torch.Tensor | None = None, rank_anchor_norm: bool = False, artist_weight: float = 0.0,
                artist_temperature: float = 0.1) -> dict:
    """One pass of optimiser steps. ``y`` (N,) float32: the targets of every pair, on the device.

    With ``rank_weight`` > 0 the step's loss adds ``rank_weight`` x :func:`listwise_loss` on the batch's
    ranking vectors, graded by ``rank_y`` (N,) (default ``y``); with ``artist_weight`` > 0, ``artist_weight``
    x :func:`artist_loss` on the ranking vectors of the step's anchors and artist mates (``Step.mates``,
    ``learn.artists``). Under DDP each rank's mean loss is weighted by its share of the global batch, so the
    averaged gradient is the gradient of the global batch's mean loss. Returns device totals (``loss``: the
    pair loss, ``rank``: the listwise loss, ``artist``: the artist loss, ``abs``) and host counts (``n``,
    ``steps``); reading the totals is the caller's one synchronisation.
    """
    dev = y.device
    tot_loss = torch.zeros((), dtype=torch.float64, device=dev)
    tot_rank = torch.zeros((), dtype=torch.float64, device=dev)
    tot_abs = torch.zeros((), dtype=torch.float64, device=dev)
    tot_artist = torch.zeros((), dtype=torch.float64, device=dev)
    want_r = rank_weight > 0 or artist_weight > 0
    net = model.module if hasattr(model, "module") else model  # DDP wraps the PairModel
    n = k = 0
    for batch, rows, step in batches:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            out = model(batch, with_rank=True) if want_r else model(batch)
        pred, r = out if want_r else (out, None)  # (p,), (U, D)
        target = y[rows]  # (p,)
        loss = loss_fn(loss_kind, pred, target)
        total = loss
        if artist_weight > 0 and step.mates is not None:
            a, m, g = torch.from_numpy(mate_positions(step)).to(dev, non_blocking=True)
            art = artist_loss(r, a, m, g, artist_temperature)
            total = total + artist_weight * art
            with torch.no_grad():
                tot_artist += art.detach().double() * len(step.rows)
        if rank_weight > 0:
            dup = distinct_slots(step.songs)
            slot_song = torch.from_numpy(dup[0]).to(dev, non_blocking=True) if dup else None
            log_q, hits = (None if a is None else torch.from_numpy(a).to(dev, non_blocking=True)
                           for a in (step.log_q, step.hits))  # the catalog-scale loss (learn.negatives)
            rank = listwise_loss(r.float(), net.rank_scale(), batch["left"], batch["right"],
                                 (rank_y if rank_y is not None else y)[rows], slot_song, dup[1] if dup else None,
                                 log_q, hits, rank_anchor_norm)
            total = total + rank_weight * rank
            with torch.no_grad():
                tot_rank += rank.detach().double() * len(step.rows)
        share = len(step.rows) * world / step.n_global
        opt.zero_grad(set_to_none=True)
        (total if share == 1 else total * share).backward()
        m = lr_mult(first_step + k) if lr_mult is not None else 1.0
        if m != 1.0:
            scheduled = [g["lr"] for g in opt.param_groups]
            for g in opt.param_groups:
                g["lr"] *= m
        opt.step()
        if m != 1.0:
            for g, lr in zip(opt.param_groups, scheduled):
                g["lr"] = lr
        with torch.no_grad():
            tot_loss += loss.detach().double() * len(step.rows)
            tot_abs += (pred.detach().double() - target.double()).abs().sum()
        n += len(step.rows)
        k += 1
        if on_step is not None:
            on_step()
    return {"loss": tot_loss, "rank": tot_rank, "artist": tot_artist, "abs": tot_abs, "n": n, "steps": k}


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, batches: Iterable[Prepared], max_batches: int) -> int:
    """Re-estimate every batch-norm layer's running mean and variance as the plain average over up to
    ``max_batches`` training batches, in training mode, with the weights as they are now ("precise BN").
    With a few dozen steps per epoch the exponential running averages lag weights that move fast, so
    validation (eval mode) would read statistics of earlier weights: the output level jumps from epoch to
    epoch and the best epoch is picked on that noise. The random state is forked (dropout masks here do
    not shift training's). Returns the batches used; a model without batch norm is left untouched, and so is
    a part the model keeps in eval mode while it trains (a frozen tower: its statistics are part of it)."""
    was_training = model.training
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    if not bns or max_batches <= 0:
        model.train(was_training)
        return 0
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    n = 0
    with torch.random.fork_rng(devices=[]):
        for batch, _, _ in batches:
            if n >= max_batches:
                break
            model(batch)
            n += 1
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)
    return n
