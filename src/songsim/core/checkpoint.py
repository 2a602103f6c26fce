"""Checkpoints and the device they run on, shared by every phase that trains, serves or judges a model.

A checkpoint holds plain data only (``state_dict`` + config dicts), so it loads with
``torch.load(weights_only=True)``. The same state always gives the same bytes (:func:`write_state`), so
DVC sees an identical retrain as unchanged and skips the stages downstream of its checkpoint.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import typing
from pathlib import Path

import torch

from songsim.core.config import ConfigError, ModelSection, from_dict, to_dict
from songsim.core.writers import atomic_write_bytes
from songsim.models import registry
from songsim.models.nets import Ensemble, PairModel, build_model

log = logging.getLogger(__name__)


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


def write_state(path: str | Path, state: dict) -> None:
    """``torch.save`` of ``state``, byte-reproducible and atomic.

    ``torch.save`` to a file path names the archive's records after that file (here a random temp name),
    so two saves of the same weights would differ; serialised in memory the records are always named
    ``archive/...``, and the serialisation id torch writes is derived from the records' contents."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def save_checkpoint(path: str | Path, model: PairModel, name: str, section: ModelSection, vocab_size: int,
                    extra: dict | None = None, state_dict: dict | None = None) -> None:
    """``state_dict`` (the model's, or the one given) + plain-data config only (atomic write), so it loads
    with ``weights_only=True``."""
    state = {"model": name, "config": to_dict(section.model), "optim": to_dict(section.optim),
             "vocab_size": vocab_size, "members": len(model.members) if isinstance(model, Ensemble) else 1,
             "state_dict": state_dict if state_dict is not None else model.state_dict(),
             **(extra or {})}
    write_state(path, state)


def with_defaults(cls: type, data: dict, where: str = "") -> tuple[dict, list[str]]:
    """A saved config ``data`` of dataclass ``cls`` with the keys it lacks and ``cls`` gives a default for
    filled in (nested configs too), and the keys filled. A checkpoint written before a setting existed
    (e.g. a training-only one) keeps loading, as that setting's default, which is how it was trained;
    an unknown key, or a missing one without a default, still fails in ``from_dict``."""
    out, filled, hints = dict(data), [], typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{where}.{f.name}" if where else f.name
        if f.name in out:
            if dataclasses.is_dataclass(hints[f.name]) and isinstance(out[f.name], dict):
                out[f.name], more = with_defaults(hints[f.name], out[f.name], path)
                filled += more
        elif f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            out[f.name] = to_dict(value) if dataclasses.is_dataclass(value) else value
            filled.append(path)
    return out, filled


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[PairModel, dict]:
    """Rebuild the model a checkpoint was saved from; returns it (on ``device``) and the saved state.
    Settings added since it was written take their defaults (:func:`with_defaults`)."""
    state = torch.load(path, map_location=device, weights_only=True)
    name = state["model"]
    config, filled = with_defaults(registry.get(name).config, state["config"])
    if filled:
        log.info("%s: written before %s existed; loaded with the default", path, ", ".join(filled))
    cfg = from_dict(registry.get(name).config, config, f"{path}:config")
    model = build_model(name, cfg, state["vocab_size"], state.get("members", 1))
    model.load_state_dict(state["state_dict"])
    return model.to(device), state


def finish_checkpoints(net: PairModel, name: str, section: ModelSection, vocab_size: int, ckpt_path: Path,
                       last_path: Path, extra: dict | None, best_state: dict | None) -> None:
    """Rank 0 after the last epoch: the best checkpoint, and the last checkpoint marked complete."""
    # the best checkpoint is always written by the run that ends: DVC deletes it before re-running a stage,
    # and a run resumed after a kill may not improve on the best epoch it resumes from
    if best_state is not None:
        save_checkpoint(ckpt_path, net, name, section, vocab_size, extra, best_state)
    # mark the run complete so a later run with the same fingerprint retrains instead of resuming
    if last_path.exists():
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        state["complete"] = True
        write_state(last_path, state)
