"""Stage bodies shared by ``stages/*.py`` and the ``songsim`` CLI: typed configs in, files out."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from songsim.config import (
    ChunkAudioConfig,
    EvaluateConfig,
    ExpandLyricsConfig,
    ExtractPairsConfig,
    ModelSection,
    PathsConfig,
    RawConfig,
    SplitsConfig,
    SynthConfig,
    TrainConfig,
)
from songsim.writers import atomic_write_text

log = logging.getLogger(__name__)


def report_path(paths: PathsConfig, stage: str) -> Path:
    return Path(paths.reports) / f"{stage}.json"


def run_synth(paths: PathsConfig, cfg: SynthConfig) -> dict:
    from songsim.synth.world import write_world

    return write_world(paths.raw_dir, cfg.size, cfg.seed, cfg.lastfm_sqlite, cfg.mxm_sqlite)


def run_extract_pairs(paths: PathsConfig, raw: RawConfig, cfg: ExtractPairsConfig) -> dict:
    from songsim.ingest import extract_pairs

    return extract_pairs(raw.lastfm, paths.pairs, cfg).write(report_path(paths, "extract_pairs"))


def run_expand_lyrics(paths: PathsConfig, raw: RawConfig, cfg: ExpandLyricsConfig) -> dict:
    from songsim.ingest import expand_lyrics

    return expand_lyrics(raw.mxm, paths.lyrics, paths.vocab, cfg).write(report_path(paths, "expand_lyrics"))


def run_chunk_audio(paths: PathsConfig, raw: RawConfig, cfg: ChunkAudioConfig) -> dict:
    from songsim.ingest import chunk_audio

    return chunk_audio(raw.msd, paths.audio, cfg).write(report_path(paths, "chunk_audio"))


def run_build_splits(paths: PathsConfig, cfg: SplitsConfig, pairs_cfg: ExtractPairsConfig) -> dict:
    from songsim.splits import build_splits

    rep = build_splits(paths.pairs, paths.lyrics, paths.audio, paths.splits, cfg, pairs_cfg.symmetric)
    atomic_write_text(report_path(paths, "build_splits"), json.dumps(rep, indent=2) + "\n")
    return rep


def model_paths(paths: PathsConfig, name: str) -> dict[str, Path]:
    return {
        "ckpt": Path(paths.models) / f"{name}.pt",
        "last": Path(paths.models) / f"{name}.last.pt",
        "train_metrics": Path(paths.metrics) / "train" / f"{name}.json",
        "metrics": Path(paths.metrics) / f"{name}.json",
        "history": Path(paths.plots) / name / "history.csv",
        "plots": Path(paths.plots) / name,
    }


def run_train(paths: PathsConfig, raw: RawConfig, tcfg: TrainConfig, name: str, section: ModelSection) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    from songsim.data import load_pairs, load_songs, split_track_ids
    from songsim.models import MODEL_SETS, USES_AUDIO, USES_LYRICS
    from songsim.train import train

    mp = model_paths(paths, name)
    split_dir = Path(paths.splits) / MODEL_SETS[name]
    tr, va = split_dir / "train.parquet", split_dir / "val.parquet"
    songs = load_songs(split_track_ids(tr, va), paths.lyrics if USES_LYRICS[name] else None,
                       paths.audio if USES_AUDIO[name] else None)
    train_pairs, val_pairs = load_pairs(tr, songs), load_pairs(va, songs)
    vocab = pq.read_table(paths.vocab).column("word").to_pylist()
    glove = None
    enc = getattr(section.model, "encoder", None) or getattr(section.model, "lyrics", None)
    if getattr(enc, "glove_init", False) and raw.glove:
        from songsim.io.glove import match_glove

        glove = match_glove(raw.glove, vocab)
    res = train(name, section, tcfg, songs, train_pairs, val_pairs, len(vocab), mp["ckpt"], mp["last"],
                mp["history"], glove)
    out = {
        "model": name, "best_epoch": res.best_epoch, f"best_val_{res.metric_name}": round(res.best_metric, 6),
        "epochs_run": res.epochs_run, "resumed_from_epoch": res.resumed_from, "seconds": res.seconds,
        "train_pairs": len(train_pairs), "val_pairs": len(val_pairs), "songs": len(songs),
        "mean_pairs_per_s": round(float(np.mean([h["pairs_per_s"] for h in res.history])), 1) if res.history else None,
        "param_counts": res.params, "glove_coverage": glove.coverage if glove is not None else None,
    }
    atomic_write_text(mp["train_metrics"], json.dumps(out, indent=2) + "\n")
    return out


def run_evaluate(paths: PathsConfig, raw: RawConfig, tcfg: TrainConfig, ecfg: EvaluateConfig, name: str) -> dict:
    from songsim.evaluate import evaluate

    mp = model_paths(paths, name)
    return evaluate(name, mp["ckpt"], paths.splits, paths.lyrics, paths.audio, raw.oracle or None, tcfg, ecfg,
                    mp["metrics"], mp["plots"])
