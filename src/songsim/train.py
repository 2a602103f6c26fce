"""One training loop for all four models: Adam, optional cosine annealing, early stopping on the
validation metric, best + last checkpoints, resume after an interruption, CUDA with mixed precision
when present."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from tqdm import tqdm

from songsim.config import ConfigError, ModelSection, TrainConfig, model_section, section, to_dict
from songsim.data import PairData, SongTable, iter_batches, load_pairs, load_songs, split_track_ids
from songsim.inference import model_spec, pick_device, predict, save_checkpoint, targets, to_device
from songsim.metrics import STOP_METRIC, mae, stop_metric
from songsim.models import registry
from songsim.models.nets import PairModel, build_model, param_counts
from songsim.writers import atomic_path, write_csv, write_json

log = logging.getLogger(__name__)


def loss_fn(task: str, pred: torch.Tensor, pairs: PairData, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    # computed in float32 outside autocast (binary_cross_entropy is not autocast-safe)
    y = torch.from_numpy(targets(task, pairs)[rows]).to(device)
    if task == "classification":
        return F.binary_cross_entropy(pred.float().clamp(1e-6, 1 - 1e-6), y)
    return F.mse_loss(pred.float(), y)


def fingerprint(name: str, section: ModelSection, tcfg: TrainConfig, pairs: PairData) -> str:
    h = hashlib.sha256(json.dumps([name, to_dict(section), to_dict(tcfg)], sort_keys=True).encode())
    h.update(pairs.src.tobytes() + pairs.tgt.tobytes() + pairs.score.tobytes())
    return h.hexdigest()[:16]


@dataclass
class TrainResult:
    best_epoch: int
    best_metric: float
    metric_name: str
    epochs_run: int
    history: list[dict]
    params: dict[str, int]
    resumed_from: int
    seconds: float


def fit_audio_normalisation(spec: registry.ModelSpec, model: PairModel, songs: SongTable, rows: np.ndarray) -> None:
    """Per-channel mean/std of the training songs' frames, stored in the audio encoder's buffers."""
    enc = spec.encoder(model, "audio")
    if enc is None or songs.audio is None:
        return
    x = songs.audio[rows].astype(np.float32)  # (S, 24, T)
    mean = x.mean(axis=(0, 2))
    std = x.std(axis=(0, 2))
    enc.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))


def init_embeddings(spec: registry.ModelSpec, model: PairModel, glove) -> dict | None:
    """Copy GloVe vectors into the lyrics embedding where the encoder asks for it."""
    enc = spec.encoder(model, "lyrics")
    if enc is None or not enc.cfg.glove_init:
        return None
    if glove is None:
        raise ConfigError("encoder.glove_init is true but raw.glove is empty")
    if glove.dim != enc.cfg.embedding_dim:
        raise ConfigError(f"encoder.embedding_dim is {enc.cfg.embedding_dim} but GloVe vectors have {glove.dim}")
    with torch.no_grad():
        w = enc.embedding.weight
        found = torch.from_numpy(glove.found)
        w[found] = torch.from_numpy(glove.vectors)[found]
        w[0] = 0.0
    return glove.coverage


def train(name: str, section: ModelSection, tcfg: TrainConfig, songs: SongTable, train_pairs: PairData,
          val_pairs: PairData, vocab_size: int, ckpt_path: str | Path, last_path: str | Path,
          history_path: str | Path, glove=None) -> TrainResult:
    """Train ``name``; writes the best checkpoint, a resumable last checkpoint and the history CSV."""
    t0 = time.perf_counter()
    if len(train_pairs) < 2 or len(val_pairs) < 1:
        raise ValueError(f"{name}: {len(train_pairs)} training and {len(val_pairs)} validation pairs; need at least "
                         f"2 and 1 (see the build_splits report)")
    spec = registry.get(name)
    task = spec.task
    device = pick_device(tcfg.device)
    amp = tcfg.amp and device.type == "cuda"
    if tcfg.threads > 0:
        torch.set_num_threads(tcfg.threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True  # cuDNN picks its fastest LSTM/conv kernels
    random.seed(tcfg.seed)  # model initialisation and the first dropout masks
    np.random.seed(tcfg.seed)
    torch.manual_seed(tcfg.seed)
    model = build_model(name, section.model, vocab_size)
    coverage = init_embeddings(spec, model, glove)
    train_rows = np.unique(np.concatenate([train_pairs.src, train_pairs.tgt]))
    fit_audio_normalisation(spec, model, songs, train_rows)
    model.to(device)
    counts = param_counts(model)
    log.info("%s parameters per block: %s", name, counts)
    dec = {id(p) for p in model.decoder_parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [  # L2 on the dense (decoder) layers only
        {"params": [p for p in trainable if id(p) in dec], "weight_decay": section.model.l2},
        {"params": [p for p in trainable if id(p) not in dec], "weight_decay": 0.0},
    ]
    opt = torch.optim.Adam(groups, lr=section.optim.lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=section.optim.t_max, eta_min=section.optim.eta_min)
             if section.optim.scheduler == "cosine" else None)
    fp = fingerprint(name, section, tcfg, train_pairs)
    history: list[dict] = []
    start_epoch, best, best_epoch, bad_epochs = 0, None, -1, 0
    best_state: dict | None = None  # the best epoch's weights, also kept in last.pt
    last_path = Path(last_path)
    if last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=True)
        if state.get("fingerprint") == fp and not state.get("complete"):
            model.load_state_dict(state["state_dict"])
            opt.load_state_dict(state["optimizer"])
            if sched is not None and state.get("scheduler"):
                sched.load_state_dict(state["scheduler"])
            start_epoch, best, best_epoch = state["epoch"] + 1, state["best"], state["best_epoch"]
            bad_epochs, history = state["bad_epochs"], state["history"]
            best_state = state.get("best_state")
            log.info("%s: resuming at epoch %d (epochs 1-%d done) from %s", name, state["epoch"] + 2,
                     state["epoch"] + 1, last_path)
        else:
            log.info("%s: %s is from another run or finished; starting fresh", name, last_path)
    resumed_from = start_epoch
    metric_name, _, higher = STOP_METRIC[task]

    def best_extra(epoch: int, value: float) -> dict:  # what the best checkpoint records beside the weights
        return {"epoch": epoch, "val": {metric_name: value}, "param_counts": counts}

    for epoch in range(start_epoch, section.optim.epochs):
        if bad_epochs >= tcfg.patience:
            break
        model.train()
        # per-epoch data order and dropout masks: a resumed run repeats the uninterrupted one exactly
        rng = np.random.default_rng([tcfg.seed, epoch])
        torch.manual_seed(tcfg.seed * 100_003 + epoch)
        te = time.perf_counter()
        tot_loss = tot_abs = 0.0
        n_seen = 0
        bar = tqdm(iter_batches(train_pairs, songs, section.optim.batch_size, tcfg.dedup, rng),
                   total=-(-len(train_pairs) // section.optim.batch_size), desc=f"{name} epoch {epoch + 1}",
                   unit="batch", mininterval=2, leave=False)
        for batch, rows in bar:
            if len(rows) < 2:  # batch norm needs two samples
                continue
            batch = to_device(batch, device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                pred = model(batch)
            loss = loss_fn(task, pred, train_pairs, rows, device)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += float(loss.detach()) * len(rows)
            target = targets(task, train_pairs)[rows]
            tot_abs += float(np.abs(pred.detach().float().cpu().numpy() - target).sum())
            n_seen += len(rows)
        if sched is not None:
            sched.step()
        train_s = time.perf_counter() - te
        vp = predict(model, val_pairs, songs, tcfg.eval_batch_size, device, amp)
        with torch.no_grad():
            vl = float(loss_fn(task, torch.from_numpy(vp).to(device), val_pairs, np.arange(len(val_pairs)), device))
        val_target = targets(task, val_pairs)
        value = stop_metric(task, val_target, vp)
        row = {"epoch": epoch + 1, "train_loss": round(tot_loss / max(1, n_seen), 6),
               "train_mae": round(tot_abs / max(1, n_seen), 6), "val_loss": round(vl, 6),
               "val_mae": round(mae(val_target, vp), 6),
               f"val_{metric_name}": round(value, 6), "lr": opt.param_groups[0]["lr"],
               "seconds": round(train_s, 2), "pairs_per_s": round(n_seen / max(train_s, 1e-9), 1)}
        history.append(row)
        log.info("%s epoch %d: %s", name, epoch + 1, row)
        improved = best is None or (value > best if higher else value < best)
        if improved:
            best, best_epoch, bad_epochs = value, epoch + 1, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            save_checkpoint(ckpt_path, model, name, section, vocab_size, best_extra(best_epoch, best))
        else:
            bad_epochs += 1
        save_checkpoint(last_path, model, name, section, vocab_size, {
            "fingerprint": fp, "epoch": epoch, "best": best, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
            "history": history, "optimizer": opt.state_dict(), "best_state": best_state,
            "scheduler": sched.state_dict() if sched is not None else {}, "complete": False})
    # the best checkpoint is always written by the run that ends: DVC deletes it before re-running a stage,
    # and a run resumed after a kill may not improve on the best epoch it resumes from
    if best_state is not None:
        save_checkpoint(ckpt_path, model, name, section, vocab_size, best_extra(best_epoch, best), best_state)
    # mark the run complete so a later run with the same fingerprint retrains instead of resuming
    if last_path.exists():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        state["complete"] = True
        with atomic_path(last_path) as tmp:
            torch.save(state, tmp)
    keys = list(history[0]) if history else ["epoch"]
    write_csv(history_path, keys, ([h[k] for k in keys] for h in history))
    if coverage:
        log.info("%s GloVe coverage: %s", name, coverage)
    if best is None or not np.isfinite(best):
        raise ValueError(f"{name}: no epoch gave a finite validation {metric_name} ({best}); nothing to keep")
    return TrainResult(best_epoch, float(best), metric_name, len(history), history, counts, resumed_from,
                       round(time.perf_counter() - t0, 2))


def run(params: dict, model: str) -> dict:
    """The DVC stage ``train@<model>``: its split set's train/val pairs -> best + last checkpoints,
    ``metrics/train/<model>.json`` and the per-epoch history."""
    spec = model_spec(model)
    paths, raw, tcfg = section(params, "paths"), section(params, "raw"), section(params, "train")
    sec = model_section(params, model, spec.config)
    files = paths.model_files(model)
    tr, va = paths.split(spec.split_set, "train"), paths.split(spec.split_set, "val")
    songs = load_songs(split_track_ids(tr, va), paths.lyrics if spec.uses_lyrics else None,
                       paths.audio if spec.uses_audio else None)
    train_pairs, val_pairs = load_pairs(tr, songs), load_pairs(va, songs)
    vocab = pq.read_table(paths.vocab).column("word").to_pylist()
    glove = None
    enc_cfg = spec.lyrics_config(sec.model)
    if enc_cfg is not None and enc_cfg.glove_init and raw.glove:
        from songsim.io.glove import match_glove

        glove = match_glove(raw.glove, vocab)
    res = train(model, sec, tcfg, songs, train_pairs, val_pairs, len(vocab), files["ckpt"], files["last"],
                files["history"], glove)
    out = {
        "model": model, "best_epoch": res.best_epoch, f"best_val_{res.metric_name}": round(res.best_metric, 6),
        "epochs_run": res.epochs_run, "resumed_from_epoch": res.resumed_from, "seconds": res.seconds,
        "train_pairs": len(train_pairs), "val_pairs": len(val_pairs), "songs": len(songs),
        "mean_pairs_per_s": round(float(np.mean([h["pairs_per_s"] for h in res.history])), 1) if res.history else None,
        "param_counts": res.params, "glove_coverage": glove.coverage if glove is not None else None,
    }
    write_json(files["train_report"], out)
    return out
