"""Inference, apart from training: device choice, checkpoints, song vectors and cached-vector pair scores.

Used by the training loop (validation), evaluation, the benchmarks and anything that serves a trained
model. A checkpoint holds plain data only (``state_dict`` + config dicts), so it loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from songsim.batches import SongStore
from songsim.config import ConfigError, ModelSection, from_dict, to_dict
from songsim.data import PairData, SongTable
from songsim.models import registry
from songsim.models.nets import PairModel, build_model
from songsim.writers import atomic_path, write_csv


def model_spec(name: str | None) -> registry.ModelSpec:
    """The registry entry of model ``name``; a :class:`ConfigError` naming the known models otherwise."""
    try:
        return registry.get(str(name))
    except KeyError as e:
        raise ConfigError(f"--model: {e.args[0]}") from None


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is an error, not a fallback."""
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Model inputs on ``device``; ``lengths`` stay on the host, where packing reads them (no device sync)."""
    return {k: v if k == "lengths" else v.to(device, non_blocking=True) for k, v in batch.items()}


def targets(task: str, pairs: PairData) -> np.ndarray:
    """What a model of ``task`` is trained to predict: the 0/1 label or the score."""
    return pairs.label if task == "classification" else pairs.score


def save_checkpoint(path: str | Path, model: PairModel, name: str, section: ModelSection, vocab_size: int,
                    extra: dict | None = None, state_dict: dict | None = None) -> None:
    """``state_dict`` (the model's, or the one given) + plain-data config only (atomic write), so it loads
    with ``weights_only=True``."""
    state = {"model": name, "config": to_dict(section.model), "optim": to_dict(section.optim),
             "vocab_size": vocab_size, "state_dict": state_dict if state_dict is not None else model.state_dict(),
             **(extra or {})}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def finish_run(net: PairModel, name: str, section: ModelSection, vocab_size: int, ckpt_path: Path, last_path: Path,
               history_path: Path, history: list[dict], extra: dict | None, best_state: dict | None) -> None:
    """Rank 0 after the last epoch: best checkpoint, last checkpoint marked complete, history CSV."""
    # the best checkpoint is always written by the run that ends: DVC deletes it before re-running a stage,
    # and a run resumed after a kill may not improve on the best epoch it resumes from
    if best_state is not None:
        save_checkpoint(ckpt_path, net, name, section, vocab_size, extra, best_state)
    # mark the run complete so a later run with the same fingerprint retrains instead of resuming
    if last_path.exists():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        state["complete"] = True
        with atomic_path(last_path) as tmp:
            torch.save(state, tmp)
    keys = list(history[0]) if history else ["epoch"]
    write_csv(history_path, keys, ([h[k] for k in keys] for h in history))


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[PairModel, dict]:
    """Rebuild the model a checkpoint was saved from; returns it (on ``device``) and the saved state."""
    state = torch.load(path, map_location=device, weights_only=True)
    name = state["model"]
    cfg = from_dict(registry.get(name).config, state["config"], f"{path}:config")
    model = build_model(name, cfg, state["vocab_size"])
    model.load_state_dict(state["state_dict"])
    return model.to(device), state


@torch.no_grad()
def encode_songs(model: PairModel, songs: SongTable | SongStore, rows: np.ndarray, batch_size: int,
                 device: torch.device, amp: bool = False) -> torch.Tensor:
    """Song vectors ``(len(rows), D)`` float32 on ``device``, encoded in batches of ``batch_size`` songs.

    ``songs``: a store already on the device (training), or a table, gathered on the host batch by batch."""
    model.eval()
    if isinstance(songs, SongTable):
        songs = SongStore(songs, torch.device("cpu"))  # no copy: views of the table's arrays
    vecs = None
    for k in range(0, len(rows), batch_size):
        part = rows[k:k + batch_size]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            v = model.encode(to_device(songs.tensors(part), device)).float()  # (B, D)
        if vecs is None:
            vecs = torch.empty((len(rows), v.shape[1]), device=device)
        vecs[k:k + len(part)] = v
    if vecs is None:
        raise ValueError("encode_songs: no songs to encode")
    return vecs


@torch.no_grad()
def predict(model: PairModel, pairs: PairData, songs: SongTable | SongStore, batch_size: int, device: torch.device,
            amp: bool = False) -> np.ndarray:
    """Score every pair: encode each song once (cached vectors), then decode pairs in batches."""
    model.eval()
    needed = np.unique(np.concatenate([pairs.src, pairs.tgt]))
    vecs = encode_songs(model, songs, needed, batch_size, device, amp)  # (S', D)
    pos = np.full(len(songs), -1, dtype=np.int64)
    pos[needed] = np.arange(len(needed))
    out = np.empty(len(pairs), dtype=np.float32)
    for k in range(0, len(pairs), batch_size):
        left = torch.from_numpy(pos[pairs.src[k:k + batch_size]]).to(device)
        right = torch.from_numpy(pos[pairs.tgt[k:k + batch_size]]).to(device)
        out[k:k + len(left)] = model.score(vecs, left, right).float().cpu().numpy()
    return out
