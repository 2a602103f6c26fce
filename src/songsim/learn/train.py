"""One training loop for all four models: Adam, optional cosine annealing, early stopping on the
validation metric, best + last checkpoints, resume after an interruption, CUDA with mixed precision
when present, per-epoch metrics through DVCLive (rank 0), the ranking score's calibration.

Over 250 lines: one training run (set-up, resume, the epoch loop, checkpoints) reads best as one piece."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, replace
from functools import partial
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from tqdm import tqdm

from songsim.core.calibration import fit_calibration
from songsim.core.checkpoint import finish_checkpoints, load_checkpoint, model_spec, pick_device, save_checkpoint
from songsim.core.config import ConfigError, EvaluateConfig, ModelSection, TrainConfig, model_section, section, to_dict
from songsim.core.metrics import STOP_METRIC, mae, stop_metric
from songsim.core.writers import write_json
from songsim.learn import distributed, shared
from songsim.learn.artists import ArtistSampler, add_mates, training_artists
from songsim.learn.batches import SongStore, compose_extensions, epoch_passes, plan_epoch, steps_in_pass
from songsim.learn.data import PairData, SongTable, load_pairs, load_songs, split_track_ids
from songsim.learn.inference import calibration_inputs, choose_rank_mix, predict, targets, val_catalog_ndcg
from songsim.learn.live import EpochLog
from songsim.learn.loop import LrRule, loss_fn, prepare, recalibrate_batch_norm, train_steps
from songsim.learn.negatives import RankSampler, add_negatives
from songsim.learn.setup import (
    audio_tower_states,
    check_warm_start_splits,
    fit_audio_normalisation,
    fit_word_prior,
    init_embeddings,
    init_output_bias,
)
from songsim.learn.threads import CpuShare
from songsim.models import registry
from songsim.models.nets import Ensemble, build_model, param_counts

log = logging.getLogger(__name__)


def fingerprint(name: str, section: ModelSection, tcfg: TrainConfig, pairs: PairData,
                audio_init: dict[str, torch.Tensor] | None = None) -> str:
    """What makes two runs the same run (a last checkpoint resumes only its own): settings, pairs and the
    audio tower a run starts from."""
    h = hashlib.sha256(json.dumps([name, to_dict(section), to_dict(tcfg)], sort_keys=True).encode())
    h.update(pairs.src.tobytes() + pairs.tgt.tobytes() + pairs.score.tobytes())
    for key in sorted(audio_init or {}):
        h.update(key.encode() + audio_init[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class TrainResult:
    best_epoch: int | list[int]  # an ensemble's: its members' best epochs
    best_metric: float
    metric_name: str
    epochs_run: int
    history: list[dict]
    params: dict[str, int]
    resumed_from: int
    seconds: float
    rank_mix: dict | None = None  # train.rank_mix: val: the mixture chosen and each candidate's validation nDCG


def train(name: str, section: ModelSection, tcfg: TrainConfig, songs: SongTable, train_pairs: PairData,
          val_pairs: PairData, vocab_size: int, ckpt_path: str | Path, last_path: str | Path,
          live_dir: str | Path | None = None, glove=None, val_ranking: tuple[float, int] = (0.5, 10),
          stop_ids: np.ndarray | None = None, audio_init: list[dict[str, torch.Tensor]] | None = None,
          artist_of: list[str | None] | None = None) -> TrainResult:
    """Train ``name``; writes the best checkpoint, a resumable last checkpoint and, when ``live_dir`` is
    given, the per-epoch metrics through DVCLive (:class:`EpochLog`). ``val_ranking``: the relevant score
    and k of the validation catalog's nDCG@k (logged every epoch; the selection metric with
    ``train.select_on: ndcg``). ``audio_init``: audio encoder weights to start the audio tower from, one per
    trained audio member (ensemble member ``m`` starts from ``audio_init[m % len(audio_init)]``).
    ``artist_of``: each song row's artist id (None: unknown), for the artist loss (``learn.artists``).

    Under torchrun (``distributed.setup``) every rank calls this; rank 0 alone validates and writes."""
    t0 = time.perf_counter()
    warm_from = getattr(section.model, "audio_init", "none")
    if (warm_from != "none") != (audio_init is not None):
        raise ConfigError(f"{name}.model.audio_init is {warm_from!r} but the audio tower weights were "
                          f"{'not ' if audio_init is None else ''}given (learn.setup.audio_tower_states)")
    if len(train_pairs) < 2 or len(val_pairs) < 1:
        raise ValueError(f"{name}: {len(train_pairs)} training and {len(val_pairs)} validation pairs; need at least "
                         f"2 and 1 (see the build_splits report)")
    ranks, device = distributed.setup(tcfg.device)
    device = device or pick_device(tcfg.device)
    live = EpochLog(live_dir, registry.get(name).short, enabled=ranks.main)
    try:
        with CpuShare(tcfg.threads) as share:
            args = (name, section, tcfg, songs, train_pairs, val_pairs, vocab_size, Path(ckpt_path), Path(last_path),
                    live, glove, ranks, device, share, t0, val_ranking, stop_ids, artist_of)
            if section.optim.members == 1:
                return _train(*args, audio_init=audio_init[0] if audio_init else None, choose_mix=True)
            return _train_members(*args, audio_init=audio_init)
    finally:
        live.close()
        distributed.teardown(ranks)


def member_seed(seed: int, member: int, members: int) -> int:
    """Train seed of ensemble member ``member``: ``seed * members + member``, so one member is ``seed`` itself
    and the ensembles of train seeds 0 and 1 share no member."""
    return seed * members + member


def member_path(path: Path, member: int) -> Path:
    """Where member ``member`` of an ensemble keeps its own checkpoint while the ensemble trains
    (``models/fused.pt`` -> ``models/fused.m1.pt``; ``fused.last.pt`` -> ``fused.m1.last.pt``)."""
    stem, _, rest = path.name.partition(".")
    return path.with_name(f"{stem}.m{member}.{rest}")


def _finished_member(name: str, section: ModelSection, tcfg: TrainConfig, pairs: PairData, ckpt: Path,
                     last: Path, audio_init: dict[str, torch.Tensor] | None) -> TrainResult | None:
    """A member an interrupted ensemble run already finished (its best checkpoint and its last checkpoint
    marked complete, of this very run's settings and pairs), so the resumed run does not train it again."""
    if not (ckpt.exists() and last.exists()):
        return None
    state = torch.load(last, map_location="cpu", weights_only=True)
    if not state.get("complete") or state.get("fingerprint") != fingerprint(name, section, tcfg, pairs, audio_init):
        return None
    hist = state["history"]
    return TrainResult(state["best_epoch"], float(state["best"]), "", len(hist), hist, {}, len(hist), 0.0)


def _train_members(name, section, tcfg, songs, train_pairs, val_pairs, vocab_size, ckpt_path, last_path, live,
                   glove, ranks: distributed.Ranks, device: torch.device, share: CpuShare, t0: float,
                   val_ranking: tuple[float, int], stop_ids: np.ndarray | None, artist_of: list[str | None] | None,
                   audio_init: list[dict[str, torch.Tensor]] | None = None) -> TrainResult:
    """``optim.members`` > 1: train each member as a model of its own (its own seed, early stopping and
    checkpoints, resumable), then write the :class:`Ensemble` of their best weights to ``ckpt_path``, with
    its validation metric and the calibration of its ranking score; the members' files are removed."""
    k = section.optim.members
    results, history, restored = [], [], 0
    for m in range(k):
        mcfg = replace(tcfg, seed=member_seed(tcfg.seed, m, k))
        mckpt, mlast = member_path(ckpt_path, m), member_path(last_path, m)
        warm = audio_init[m % len(audio_init)] if audio_init else None
        done = distributed.from_main(_finished_member(name, section, mcfg, train_pairs, mckpt, mlast, warm)
                                     if ranks.main else None, ranks)
        live.offset = len(history)  # the DVCLive steps run on through the members
        if done is not None:
            log.info("%s: member %d of %d (seed %d) finished before the interruption; kept", name, m + 1, k,
                     mcfg.seed)
            for row in done.history:
                live.log(row)
        else:
            log.info("%s: training member %d of %d (train seed %d)", name, m + 1, k, mcfg.seed)
        res = done or _train(name, section, mcfg, songs, train_pairs, val_pairs, vocab_size, mckpt, mlast, live,
                             glove, ranks, device, share, time.perf_counter(), val_ranking, stop_ids, artist_of, warm)
        results.append(res)
        restored += len(res.history) if done is not None else res.resumed_from
        history += [row | {"member": m} for row in res.history]
    live.offset = 0
    task = registry.get(name).task
    metric_name = "ndcg" if tcfg.select_on == "ndcg" else STOP_METRIC[task][0]
    value, counts, mix = float("nan"), {}, None
    if ranks.main:
        ens = Ensemble([load_checkpoint(member_path(ckpt_path, m), device)[0] for m in range(k)]).to(device)
        store = SongStore(songs, device, tcfg.resident_mb, width_multiple=1 if device.type == "cpu" else 32)
        amp = tcfg.amp and device.type == "cuda"
        if tcfg.rank_mix == "val":
            mix = choose_rank_mix(ens, val_pairs, store, tcfg.eval_batch_size, device, amp, *val_ranking)
        if metric_name == "ndcg":
            value = val_catalog_ndcg(ens, val_pairs, store, tcfg.eval_batch_size, device, amp, *val_ranking) or 0.0
        else:
            value = stop_metric(task, targets(task, val_pairs),
                                predict(ens, val_pairs, store, tcfg.eval_batch_size, device, amp))
        counts = param_counts(ens)
        raw, kinds = calibration_inputs(ens, val_pairs, store, tcfg.eval_batch_size, device, amp)
        save_checkpoint(ckpt_path, ens, name, section, vocab_size, {
            "epoch": [r.best_epoch for r in results], "val": {metric_name: value}, "param_counts": counts,
            "member_seeds": [member_seed(tcfg.seed, m, k) for m in range(k)],
            "member_val": [r.best_metric for r in results],
            "calibration": fit_calibration(raw, val_pairs.score, kinds), "rank_mix": mix})
        for m in range(k):
            member_path(ckpt_path, m).unlink(missing_ok=True)
            member_path(last_path, m).unlink(missing_ok=True)
        log.info("%s: ensemble of %d members, validation %s %.6f (members: %s)", name, k, metric_name, value,
                 ", ".join(f"{r.best_metric:.6f}" for r in results))
    value, mix = distributed.from_main((value, mix), ranks)
    return TrainResult([r.best_epoch for r in results], value, metric_name, len(history), history, counts,
                       restored, round(time.perf_counter() - t0, 2), mix)


def _train(name, section, tcfg, songs, train_pairs, val_pairs, vocab_size, ckpt_path, last_path, live: EpochLog,
           glove, ranks: distributed.Ranks, device: torch.device, share: CpuShare, t0: float,
           val_ranking: tuple[float, int], stop_ids: np.ndarray | None, artist_of: list[str | None] | None = None,
           audio_init: dict[str, torch.Tensor] | None = None, choose_mix: bool = False) -> TrainResult:
    """One model's training run; ``choose_mix``: the run trains the final model (not an ensemble member),
    so it also chooses the ranking mixture (``train.rank_mix``)."""
    spec = registry.get(name)
    task = spec.task
    loss_kind = task if task == "classification" else tcfg.regression_loss
    amp = tcfg.amp and device.type == "cuda"
    share.apply()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True  # cuDNN picks its fastest LSTM/conv kernels per shape
    random.seed(tcfg.seed)  # model initialisation and the first dropout masks (the same on every rank)
    np.random.seed(tcfg.seed)
    torch.manual_seed(tcfg.seed)
    model = build_model(name, section.model, vocab_size)
    coverage = init_embeddings(spec, model, glove)
    train_rows = np.unique(np.concatenate([train_pairs.src, train_pairs.tgt]))
    if audio_init is not None:  # a trained tower, with the frame normalisation it was trained under
        spec.encoder(model, "audio").load_state_dict(audio_init)
    else:
        fit_audio_normalisation(spec, model, songs, train_rows)
    prior = fit_word_prior(spec, model, songs, train_rows, stop_ids)
    if prior is not None:
        log.info("%s: fixed word weights %s", name, prior)
    if tcfg.output_init == "prior":
        level = init_output_bias(model, targets(task, train_pairs), loss_kind)
        log.info("%s: output starts at %.4f (the %s of the training targets)", name, level,
                 "median" if loss_kind == "l1" else "mean")
    if tcfg.rank_weight == 0:  # no listwise loss: the ranking mixture stays uniform (and DDP sees no unused parameter)
        model.rank_mix.requires_grad_(False)
        model.rank_log_scale.requires_grad_(False)
    model.to(device)
    counts = param_counts(model)
    log.info("%s parameters per block: %s", name, counts)
    dec = {id(p) for p in model.decoder_parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [  # L2 on the dense (decoder) layers only
        {"params": [p for p in trainable if id(p) in dec], "weight_decay": section.model.l2},
        {"params": [p for p in trainable if id(p) not in dec], "weight_decay": 0.0},
    ]
    batch_size = section.optim.batch_size  # the global batch, all ranks together
    rule = LrRule(tcfg.lr_scaling, tcfg.lr_base_batch, tcfg.warmup_epochs)
    opt = torch.optim.Adam(groups, lr=section.optim.lr * rule.factor(batch_size))
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=section.optim.t_max, eta_min=section.optim.eta_min)
             if section.optim.scheduler == "cosine" else None)
    steps_per_pass = steps_in_pass(len(train_pairs), batch_size, ranks.world)  # one pass over the training pairs
    passes = epoch_passes(steps_per_pass, tcfg.min_epoch_steps)
    steps_per_epoch = passes * steps_per_pass
    if passes > 1:
        log.info("%s: %d steps per pass over %d training pairs: %d passes per epoch (train.min_epoch_steps %d)",
                 name, steps_per_pass, len(train_pairs), passes, tcfg.min_epoch_steps)
    warmup = rule.warmup(batch_size, steps_per_epoch)
    fp = fingerprint(name, section, tcfg, train_pairs, audio_init)
    history: list[dict] = []
    start_epoch, best, best_epoch, bad_epochs = 0, None, -1, 0
    best_state: dict | None = None  # the best epoch's weights, also kept in last.pt
    state = None
    if ranks.main and last_path.exists():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != fp or state.get("complete"):
            log.info("%s: %s is from another run or finished; starting fresh", name, last_path)
            state = None
    state = distributed.from_main(state, ranks)  # every rank resumes from rank 0's file
    if state is not None:
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state.get("scheduler"):
            sched.load_state_dict(state["scheduler"])
        start_epoch, best, best_epoch = state["epoch"] + 1, state["best"], state["best_epoch"]
        bad_epochs, history = state["bad_epochs"], state["history"]
        best_state = state.get("best_state")
        log.info("%s: resuming at epoch %d (epochs 1-%d done) from %s", name, state["epoch"] + 2,
                 state["epoch"] + 1, last_path)
    resumed_from = start_epoch
    for row in history:  # a resumed run's files hold the epochs it restores too
        live.log(row)
    metric_name, _, higher = STOP_METRIC[task]
    if tcfg.select_on == "ndcg":  # the best epoch is the one whose ranking space ranks the validation catalog best
        metric_name, higher = "ndcg", True
        if not (val_pairs.labelled & (val_pairs.score >= val_ranking[0])).any():
            raise ValueError(f"{name}: train.select_on=ndcg, but no validation pair scores {val_ranking[0]} or more "
                             f"(evaluate.relevant_score): no validation song has a relevant similar to rank")
    store = SongStore(songs, device, tcfg.resident_mb, width_multiple=1 if device.type == "cpu" else 32)
    log.info("%s: song table %.1f MiB, %s on %s", name, store.nbytes / 2**20,
             "resident" if store.resident else "streamed through pinned memory", device)
    y_train = torch.from_numpy(targets(task, train_pairs)).to(device)  # (N,) every pair's target
    rank_y = torch.from_numpy(train_pairs.score).to(device) if tcfg.rank_weight > 0 else None  # graded by the score
    dedup = tcfg.use_dedup(device.type)
    sampler = None  # the catalog-scale listwise loss (learn.negatives), when the run asks for any of it
    if tcfg.rank_weight > 0 and (tcfg.rank_negatives or tcfg.rank_logq or tcfg.rank_mask_hits):
        sampler = RankSampler.build(train_pairs, len(songs), batch_size, tcfg.rank_negatives, tcfg.rank_logq,
                                    tcfg.rank_mask_hits)
    artist_weight = getattr(section.model, "artist_weight", 0.0)  # audio_siamese's artist loss (learn.artists)
    artist_temperature = getattr(section.model, "artist_temperature", 0.1)
    mates = None
    if artist_weight > 0:
        if artist_of is None:
            raise ConfigError(f"{name}.model.artist_weight is {artist_weight} but no artist ids were given "
                              f"(songs table: run chunk_audio)")
        mates = ArtistSampler.build(artist_of, train_rows, section.model.artist_songs)
        log.info("%s: artist loss over %d training songs of %d artists with two or more", name,
                 len(mates.members), mates.artists)
    net = model  # the module itself: checkpoints, validation; ``fwd`` runs the training steps
    fwd = (torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                      else None) if ranks.active else model)

    def best_extra(epoch: int, value: float) -> dict:  # what the best checkpoint records beside the weights
        return {"epoch": epoch, "val": {metric_name: value}, "param_counts": counts}

    for epoch in range(start_epoch, section.optim.epochs):
        if bad_epochs >= tcfg.patience:
            break
        threads = share.apply()
        net.train()
        # per-epoch data order and dropout masks: a resumed run repeats the uninterrupted one exactly
        rng = np.random.default_rng([tcfg.seed, epoch])
        torch.manual_seed(tcfg.seed * 100_003 + epoch + 1_000_003 * ranks.rank)
        te = time.perf_counter()
        bar = tqdm(total=steps_per_epoch, desc=f"{name} epoch {epoch + 1}", unit="batch", mininterval=2,
                   leave=False, disable=not ranks.main)
        extend = compose_extensions(
            None if mates is None else partial(add_mates, sampler=mates, dedup=dedup),
            None if sampler is None else partial(add_negatives, sampler=sampler, dedup=dedup))
        steps = chain.from_iterable(plan_epoch(train_pairs, batch_size, dedup, rng, ranks.rank, ranks.world, extend)
                                    for _ in range(passes))  # each pass a fresh order drawn from the epoch's rng
        tot = train_steps(fwd, opt, prepare(store, steps), y_train, loss_kind, amp, ranks.world, warmup,
                          epoch * steps_per_epoch, lambda b=bar: (b.update(), share.tick()), tcfg.rank_weight,
                          rank_y, tcfg.rank_anchor_norm, artist_weight, artist_temperature)
        bar.close()
        sums = distributed.all_sum(torch.stack([tot["loss"], tot["abs"], tot["rank"], tot["artist"]]),
                                   ranks).tolist()  # one sync
        n_seen = int(distributed.all_sum(torch.tensor([tot["n"]], device=device), ranks).item())
        if sched is not None:
            sched.step()
        train_s = time.perf_counter() - te
        row = None
        if ranks.main:
            if tcfg.bn_recalibrate:  # eval-mode statistics of the weights being validated
                recalibrate_batch_norm(net, prepare(store, plan_epoch(train_pairs, batch_size, dedup,
                                                                      np.random.default_rng([tcfg.seed, epoch, 1]))),
                                       tcfg.bn_recalibrate)
            vp = predict(net, val_pairs, store, tcfg.eval_batch_size, device, amp)
            val_target = targets(task, val_pairs)
            with torch.no_grad():
                vl = float(loss_fn(loss_kind, torch.from_numpy(vp), torch.from_numpy(val_target)))
            row = {"epoch": epoch + 1, "train_loss": round(sums[0] / max(1, n_seen), 6),
                   "train_mae": round(sums[1] / max(1, n_seen), 6),
                   "train_rank_loss": round(sums[2] / max(1, n_seen), 6),
                   **({"train_artist_loss": round(sums[3] / max(1, n_seen), 6)} if artist_weight > 0 else {}),
                   "val_loss": round(vl, 6),
                   "val_mae": round(mae(val_target, vp), 6),
                   f"val_{STOP_METRIC[task][0]}": round(stop_metric(task, val_target, vp), 6),
                   "val_ndcg": round(val_catalog_ndcg(net, val_pairs, store, tcfg.eval_batch_size, device, amp,
                                                      *val_ranking) or 0.0, 6),
                   "lr": opt.param_groups[0]["lr"],
                   "seconds": round(train_s, 2), "pairs_per_s": round(n_seen / max(train_s, 1e-9), 1),
                   "threads": threads, "processes": ranks.world}
            log.info("%s epoch %d: %s", name, epoch + 1, row)
        row = distributed.from_main(row, ranks)  # every rank takes the same stopping decision
        history.append(row)
        live.log(row)
        value = row[f"val_{metric_name}"]
        improved = best is None or (value > best if higher else value < best)
        if improved:
            best, best_epoch, bad_epochs = value, epoch + 1, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            if ranks.main:
                save_checkpoint(ckpt_path, net, name, section, vocab_size, best_extra(best_epoch, best))
        else:
            bad_epochs += 1
        if ranks.main:
            save_checkpoint(last_path, net, name, section, vocab_size, {
                "fingerprint": fp, "epoch": epoch, "best": best, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
                "history": history, "optimizer": opt.state_dict(), "best_state": best_state,
                "scheduler": sched.state_dict() if sched is not None else {}, "complete": False})
    mix = None
    if ranks.main:
        extra = None
        if best_state is not None:  # the best weights' ranking score, calibrated on the validation pairs
            net.load_state_dict(best_state)
            if choose_mix and tcfg.rank_mix == "val":
                mix = choose_rank_mix(net, val_pairs, store, tcfg.eval_batch_size, device, amp, *val_ranking)
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            raw, kinds = calibration_inputs(net, val_pairs, store, tcfg.eval_batch_size, device, amp)
            extra = best_extra(best_epoch, best) | {"calibration": fit_calibration(raw, val_pairs.score, kinds),
                                                   "rank_mix": mix}
        finish_checkpoints(net, name, section, vocab_size, ckpt_path, last_path, extra, best_state)
    if coverage:
        log.info("%s GloVe coverage: %s", name, coverage)
    if best is None or not np.isfinite(best):
        raise ValueError(f"{name}: no epoch gave a finite validation {metric_name} ({best}); nothing to keep")
    return TrainResult(best_epoch, float(best), metric_name, len(history), history, counts, resumed_from,
                       round(time.perf_counter() - t0, 2), distributed.from_main(mix, ranks))


def run(params: dict, model: str) -> dict:
    """The DVC stage ``train@<model>``: its split set's train/val pairs -> best + last checkpoints,
    ``metrics/train/<model>.json`` and the per-epoch history."""
    spec = model_spec(model)
    paths, raw, tcfg = section(params, "paths"), section(params, "raw"), section(params, "train")
    sec = model_section(params, model, spec.config)
    files = paths.model_files(model)
    if tcfg.nproc > 1 and not distributed.under_torchrun():
        code = distributed.relaunch(tcfg.nproc)
        if code:
            raise RuntimeError(f"train.nproc={tcfg.nproc}: torchrun exited with code {code} (the ranks' errors "
                               f"are logged above)")
        return json.loads(files["train_report"].read_text())
    tr, va = paths.split(spec.split_set, "train"), paths.split(spec.split_set, "val")

    def load() -> tuple[SongTable, dict[str, PairData]]:
        songs = load_songs(split_track_ids(tr, va), paths.lyrics if spec.uses_lyrics else None,
                           paths.audio if spec.uses_audio else None, spec.bag_words(sec.model), spec.partial)
        return songs, {"train": load_pairs(tr, songs), "val": load_pairs(va, songs)}

    songs, pair_sets = shared.training_data(load, model)  # once per machine under torchrun
    train_pairs, val_pairs = pair_sets["train"], pair_sets["val"]
    vocab = pq.read_table(paths.vocab).column("word").to_pylist()
    glove = stop_ids = None
    enc_cfg = spec.lyrics_config(sec.model)
    if enc_cfg is not None and ((enc_cfg.glove_init and raw.glove) or enc_cfg.stopwords != "none"):
        from songsim.ingest.readers.mxm import read_reverse_mapping

        words = read_reverse_mapping(raw.mxm_reverse_mapping) if raw.mxm_reverse_mapping else None
        if enc_cfg.glove_init and raw.glove:
            from songsim.ingest.readers.glove import match_glove

            glove = match_glove(raw.glove, vocab, words)
        if enc_cfg.stopwords != "none":
            from songsim.core.stopwords import stopword_ids

            stop_ids = stopword_ids(vocab, words)
    ecfg: EvaluateConfig = section(params, "evaluate")
    audio_init, warm_from = None, getattr(sec.model, "audio_init", "none")
    if warm_from != "none":
        check_warm_start_splits(section(params, "splits"), spec.split_set, registry.get(warm_from).split_set)
        audio_init = audio_tower_states(paths.model_files(warm_from)["ckpt"], sec.model.audio)
    artist_of = None
    if getattr(sec.model, "artist_weight", 0.0) > 0:  # the artists of the training pairs' songs only
        artist_of = training_artists(paths.songs, songs, train_pairs)
    try:
        res = train(model, sec, tcfg, songs, train_pairs, val_pairs, len(vocab), files["ckpt"], files["last"],
                    files["live"], glove, (ecfg.relevant_score, ecfg.ndcg_k), stop_ids, audio_init, artist_of)
    finally:
        shared.release(model)
    out = {
        "model": model, "best_epoch": res.best_epoch, f"best_val_{res.metric_name}": round(res.best_metric, 6),
        "epochs_run": res.epochs_run, "resumed_from_epoch": res.resumed_from, "seconds": res.seconds,
        "train_pairs": len(train_pairs), "val_pairs": len(val_pairs), "songs": len(songs),
        "mean_pairs_per_s": round(float(np.mean([h["pairs_per_s"] for h in res.history])), 1) if res.history else None,
        "param_counts": res.params, "glove_coverage": glove.coverage if glove is not None else None,
        "stopwords": len(stop_ids) if stop_ids is not None else None,
        "global_batch": sec.optim.batch_size, "members": sec.optim.members,
        "rank_mix": res.rank_mix,
        "audio_init": None if audio_init is None else {
            "from": warm_from, "members": len(audio_init), "frozen": bool(sec.model.freeze_audio)},
        **({k: res.history[-1][k] for k in ("processes", "threads")} if res.history else {}),
    }
    if distributed.main_process():
        write_json(files["train_report"], out)
    return out
