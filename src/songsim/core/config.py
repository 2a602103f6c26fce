"""Typed configuration: every ``params.yaml`` section maps to one frozen dataclass.

The library never opens ``params.yaml`` itself: the stage entry points (``songsim.entry``) and the CLI
parse the file with :func:`read_params` and hand the mapping to a stage, which takes the typed sections
it runs on with :func:`section` / :func:`model_section`. Unknown or missing keys fail at once with a
:class:`ConfigError` that names the offending key path. :func:`load_params` validates a whole file.

This module knows the pipeline's sections, not the models: a model section is typed with the config
class its caller passes (from ``songsim.models.registry``), so the models never import the params layer.
(Over 250 lines on purpose: one dataclass per params section, so the whole params schema reads in one file.)
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A params section has an unknown, missing or mistyped key."""


def _choice(where: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(choices)}")


def _ratios(where: str, r: tuple[float, ...]) -> None:
    if any(x < 0 for x in r) or abs(sum(r) - 1.0) > 1e-6:
        raise ConfigError(f"{where}: ratios must be non-negative and sum to 1, got {list(r)}")


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathsConfig:
    """Every pipeline location, written once; dvc.yaml templates these values."""

    raw_dir: str  # where synth_world writes the synthetic world
    pairs: str  # extract_pairs output (parquet)
    lyrics: str  # expand_lyrics output (parquet)
    vocab: str  # expand_lyrics vocabulary (parquet)
    msd_listing: str  # list_msd output (parquet): the raw.msd tree's files, sizes and times, what chunk_audio reads
    audio: str  # chunk_audio shard folder
    songs: str  # chunk_audio song metadata table (parquet): artist, title, year
    splits: str  # build_splits folder: <set>/{train,val,test}.parquet
    reports: str  # per-stage report folder: <stage>.json
    models: str  # checkpoints: <model>.pt and <model>.last.pt
    metrics: str  # <model>.json: the compact model metrics DVC compares (the full reports are in ``reports``)
    plots: str  # <model>/{predictions,errors,confusion,recall_at_k}.csv
    live: str  # DVCLive folders, <model>/{metrics.json,plots/metrics/...}: per-epoch training metrics
    embeddings: str  # embed output: <model>/part-*.parquet + manifest.json
    index: str  # index output: <model>/{index.faiss,vectors.npy,ids.parquet,manifest.json}

    def report(self, stage: str) -> Path:
        """Where stage ``stage`` writes its report."""
        return Path(self.reports) / f"{stage}.json"

    def model_files(self, name: str) -> dict[str, Path]:
        """Every file the train and evaluate stages of model ``name`` write."""
        return {
            "ckpt": Path(self.models) / f"{name}.pt",
            "last": Path(self.models) / f"{name}.last.pt",
            "train_report": Path(self.reports) / f"train_{name}.json",
            "eval_report": Path(self.reports) / f"evaluate_{name}.json",
            "metrics": Path(self.metrics) / f"{name}.json",
            "live": Path(self.live) / name,
            "plots": Path(self.plots) / name,
            "embeddings": Path(self.embeddings) / name,
            "index": Path(self.index) / name,
        }

    def split(self, set_name: str, split: str) -> Path:
        """``<splits>/<set>/<split>.parquet``."""
        return Path(self.splits) / set_name / f"{split}.parquet"


@dataclass(frozen=True)
class RawConfig:
    """Raw input locations: the synthetic world's outputs by default, real downloads otherwise."""

    lastfm: str  # a lastfm_*.zip, a lastfm_similars.db, or a folder of JSON trees / zips
    mxm: str  # an mxm_dataset_*.txt, an mxm_dataset.db, or a folder holding the txt files
    msd: str  # root of the A/B/C/TR....h5 tree
    glove: str  # GloVe text file or folder with the .npy + index parquet; "" for none
    mxm_reverse_mapping: str  # musiXmatch stem<SEP>word file: GloVe looks words up un-stemmed; "" for none
    oracle: str  # synthetic world's noise-free scores (parquet); "" when using real data
    latent: str  # synthetic world's latent factors per track (parquet, for the modality ceilings); "" for real data


@dataclass(frozen=True)
class CoverageConfig:
    """Which share of the world's tracks each source covers (``synth.coverage``); the published figures and
    the demo's denser shape are ``songsim.core.published.PUBLISHED`` and ``DENSE``."""

    lastfm: float  # share of tracks with a Last.fm file (published: 0.943)
    lists: float  # share of those files with a non-empty similar list (published: 0.620)
    lyrics: float  # share of tracks with musiXmatch lyrics (published: 0.238)
    audio: float  # share of tracks with an MSD .h5 file (published: 1.0)
    mxm_test: float  # share of the lyrics tracks in mxm_dataset_test.txt (published: 0.114)

    def validate(self) -> None:
        for name in ("lastfm", "lists", "lyrics", "audio"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"synth.coverage.{name}: a share in (0, 1], got {getattr(self, name)}")
        if not 0 <= self.mxm_test < 1:
            raise ConfigError(f"synth.coverage.mxm_test: a share in [0, 1), got {self.mxm_test}")


WORLD_SIZES = ("tiny", "default", "medium", "large")  # synth.size: the presets of songsim.synth.world.SIZES


@dataclass(frozen=True)
class SynthConfig:
    seed: int  # world seed: a different seed draws a different world
    size: str  # tiny | default | medium | large: the number of tracks (synth.world.SIZES)
    lastfm_sqlite: bool  # also write lastfm_similars.db
    mxm_sqlite: bool  # also write mxm_dataset.db
    workers: int  # processes writing the MSD files (the same files at any count)
    coverage: CoverageConfig  # which share of the tracks each source covers (the keys below)

    def validate(self) -> None:
        _choice("synth.size", self.size, WORLD_SIZES)
        if self.workers < 1:
            raise ConfigError(f"synth.workers: at least 1, got {self.workers}")


@dataclass(frozen=True)
class ExtractPairsConfig:
    min_score: float  # pairs scored below this are dropped (counted in the report)
    symmetric: bool  # merge (a,b) and (b,a) into one pair with src < tgt
    merge: str  # mean | max, how symmetric duplicates combine
    max_quarantine_frac: float  # the stage fails above this share of quarantined input (report: quarantined)
    max_member_bytes: int = 64 << 20  # a zip member inflating beyond this is quarantined (oversized_member)
    max_member_ratio: float = 200.0  # ... or inflating more than this many times its compressed size

    def validate(self) -> None:
        _choice("extract_pairs.merge", self.merge, ("mean", "max"))
        if self.max_member_bytes < 1 or self.max_member_ratio < 1:
            raise ConfigError("extract_pairs: max_member_bytes and max_member_ratio must be >= 1")


@dataclass(frozen=True)
class ExpandLyricsConfig:
    max_len: int  # words per song in the expanded sequence (published 300)
    word_order: str  # vocab | shuffle
    seed: int  # seeds the shuffled word order
    max_quarantine_frac: float  # the stage fails above this share of quarantined lines

    def validate(self) -> None:
        _choice("expand_lyrics.word_order", self.word_order, ("vocab", "shuffle"))
        if self.max_len < 1:
            raise ConfigError("expand_lyrics.max_len must be >= 1")


@dataclass(frozen=True)
class ChunkAudioConfig:
    frames: int  # T: frames kept per song
    crop: str  # start | center
    pad: str  # zero | repeat
    float16: bool  # store timbre and chroma as float16 (half the bytes)
    rows_per_shard: int  # songs per Parquet shard
    workers: int  # processes reading the HDF5 files
    max_quarantine_frac: float  # the stage fails above this share of quarantined songs

    def validate(self) -> None:
        _choice("chunk_audio.crop", self.crop, ("start", "center"))
        _choice("chunk_audio.pad", self.pad, ("zero", "repeat"))
        if self.frames < 8 or self.rows_per_shard < 1 or self.workers < 1:
            raise ConfigError("chunk_audio: frames >= 8, rows_per_shard >= 1 and workers >= 1 required")


@dataclass(frozen=True)
class SplitsConfig:
    mode: str  # track | artist | pair
    seed: int  # seeds the track/artist assignment and the negatives
    lyrics_ratios: tuple[float, float, float]  # train/val/test shares of the lyrics set
    multimodal_ratios: tuple[float, float, float]  # train/val/test shares of the multimodal set
    audio_ratios: tuple[float, float, float]  # train/val/test shares of the audio set (songs with audio)
    catalog_ratios: tuple[float, float, float]  # train/val/test shares of the catalog set (audio or lyrics)
    neg_ratio: float  # unlabelled pairs added per labelled pair
    neg_label: float  # label of the sampled unlabelled pairs (0.0 as DeepPlaylist, or soft)
    threshold: float  # score >= threshold -> label 1 (similar)
    data_fraction: float  # keep this fraction of the training pairs (ablation: amount of data)

    def validate(self) -> None:
        _choice("splits.mode", self.mode, ("track", "artist", "pair"))
        _ratios("splits.lyrics_ratios", self.lyrics_ratios)
        _ratios("splits.multimodal_ratios", self.multimodal_ratios)
        _ratios("splits.audio_ratios", self.audio_ratios)
        _ratios("splits.catalog_ratios", self.catalog_ratios)
        if not 0 < self.data_fraction <= 1:
            raise ConfigError("splits.data_fraction must be in (0, 1]")


REGRESSION_LOSSES = ("mse", "l1", "huber")  # train.regression_loss (songsim.learn.loop.loss_fn)


@dataclass(frozen=True)
class TrainConfig:
    seed: int  # seeds data order, dropout and initialisation (and an ensemble's member seeds)
    device: str  # auto | cpu | cuda
    amp: bool  # mixed precision on CUDA
    patience: int  # epochs without validation improvement before early stopping
    dedup: bool | str  # encode each distinct song once per batch: true | false | auto (CPU yes, CUDA no)
    threads: int  # torch CPU threads; 0 = auto (OMP_NUM_THREADS, else cores / songsim trainings running)
    eval_batch_size: int  # songs per batch when encoding for validation and evaluation
    nproc: int  # training processes on this machine (> 1: torchrun + DDP, one GPU each on CUDA)
    resident_mb: float  # song table kept on the device when it fits this many MiB, else streamed
    lr_scaling: str  # none | linear | sqrt: lr for a global batch other than lr_base_batch
    lr_base_batch: int  # the batch size every optim.lr is tuned at
    warmup_epochs: float  # linear lr warm-up when the scaled lr is above optim.lr
    regression_loss: str  # mse | l1 | huber: the regression models' training loss
    rank_weight: float  # weight of the listwise ranking loss added to the pair loss; 0 = pair loss only
    select_on: str  # pair (validation MAE / accuracy) | ndcg (validation catalog nDCG): best epoch and early stop
    rank_negatives: int  # songs sampled uniformly from the training catalog per step, extra listwise candidates
    rank_logq: bool  # log-Q correction of the listwise logits (each song's chance of being in a step)
    rank_mask_hits: bool  # mask listed training pairs that are not this batch's targets (accidental hits)
    rank_anchor_norm: bool  # each anchor's listwise logits over the weight of the modalities it has (see loop)
    rank_mix: str  # learned (the listwise loss's mixture of modality cosines) | val (chosen on validation nDCG)
    output_init: str  # prior (the decoder's output starts at the constant its loss fits) | zero (sigmoid(0) = 0.5)
    bn_recalibrate: int  # training batches that re-estimate batch-norm statistics before each validation; 0 = off
    min_epoch_steps: int  # an epoch is at least this many steps: a small training set is passed over several times

    def validate(self) -> None:
        _choice("train.device", self.device, ("auto", "cpu", "cuda"))
        _choice("train.regression_loss", self.regression_loss, REGRESSION_LOSSES)
        _choice("train.lr_scaling", self.lr_scaling, ("none", "linear", "sqrt"))
        _choice("train.select_on", self.select_on, ("pair", "ndcg"))
        _choice("train.rank_mix", self.rank_mix, ("learned", "val"))
        _choice("train.output_init", self.output_init, ("prior", "zero"))
        if isinstance(self.dedup, str) and self.dedup != "auto":
            raise ConfigError(f"train.dedup: {self.dedup!r} is not one of true, false, auto")
        if self.nproc < 1 or self.threads < 0 or self.lr_base_batch < 1 or self.warmup_epochs < 0 \
                or not self.resident_mb >= 0 or not self.rank_weight >= 0 or self.bn_recalibrate < 0 \
                or self.rank_negatives < 0 or self.min_epoch_steps < 0:
            raise ConfigError("train: nproc >= 1, threads >= 0, lr_base_batch >= 1, warmup_epochs >= 0, "
                              "resident_mb >= 0, rank_weight >= 0, bn_recalibrate >= 0, rank_negatives >= 0 and "
                              "min_epoch_steps >= 0 required")

    def use_dedup(self, device_type: str) -> bool:
        """On CPU encoding each distinct song once saves work; on CUDA the batch's changing song count
        makes cuDNN re-tune its kernels, so every song slot is encoded (fixed shapes)."""
        return self.dedup if isinstance(self.dedup, bool) else device_type == "cpu"


@dataclass(frozen=True)
class OptimConfig:
    lr: float  # Adam learning rate, tuned at train.lr_base_batch
    epochs: int  # training epochs (at most: early stopping may end sooner)
    batch_size: int  # pairs per optimiser step (the global batch under DDP)
    scheduler: str  # none | cosine
    t_max: int  # scheduler cosine: epochs of one cosine period
    eta_min: float  # scheduler cosine: the lowest learning rate
    members: int  # models trained from this many seeds and averaged as one (an ensemble); 1 = a single model

    def validate(self) -> None:
        _choice("optim.scheduler", self.scheduler, ("none", "cosine"))
        if self.members < 1:
            raise ConfigError(f"optim.members: at least 1 (models averaged as one), got {self.members}")


@dataclass(frozen=True)
class EvaluateConfig:
    ndcg_k: int  # k of the pair-level nDCG (each source track's ranked targets)
    score_bins: tuple[float, ...]  # true-score bin edges of mae_by_score_bin
    error_bins: int  # bins of the error histogram plot
    relevant_score: float  # ranking: a Last.fm-listed pair with score >= this is relevant
    recall_ks: tuple[int, ...]  # ranking: recall@k reported (and plotted) for these k
    served_candidates: tuple[int, ...]  # ranking: ANN candidate counts checked against exhaustive re-ranking
    max_queries: int  # ranking: at most this many test queries (seeded sample); 0 = all
    decoder_queries: int  # ranking: of those, at most this many also ranked by the pair decoder; 0 = all

    def validate(self) -> None:
        if not self.recall_ks or min(self.recall_ks) < 1 or not self.served_candidates or \
                min(self.served_candidates) < 1 or self.max_queries < 0 or self.decoder_queries < 0:
            raise ConfigError("evaluate: recall_ks and served_candidates must be non-empty and >= 1, "
                              "max_queries and decoder_queries >= 0")


@dataclass(frozen=True)
class FidelityConfig:
    """The world (``raw.*``) against real reference files, statistic by statistic (``songsim.judge.fidelity``)."""

    reference_lastfm: str  # real Last.fm JSON trees / zips / .db
    reference_mxm: str  # a real mxm_dataset*.txt (or folder / .db)
    reference_msd: str  # a real MSD .h5 tree
    max_tracks: int  # Last.fm and musiXmatch tracks read per side (the first ones)
    max_msd_files: int  # MSD files read per side (sorted order)
    rows_per_song: int  # timbre/chroma segments sampled per song (seeded)
    seed: int  # seeds which reference files and rows are sampled
    ks_target: float  # a statistic passes at or below this distance
    ks_target_list_length: float  # ... list lengths: few real lists, so sampling noise alone is about 0.3

    def validate(self) -> None:
        if min(self.max_tracks, self.max_msd_files, self.rows_per_song) < 1:
            raise ConfigError("fidelity: max_tracks, max_msd_files and rows_per_song must be >= 1")


@dataclass(frozen=True)
class RetrievalConfig:
    """Serving "songs like X": an HNSW index over the model's ranking vectors; its candidates ordered by the
    exact ranking score."""

    candidates: int  # ANN candidates per query, ordered by the exact ranking score
    hnsw_m: int  # HNSW graph degree
    ef_construction: int  # HNSW build effort (faiss efConstruction)
    ef_search: int  # HNSW search effort (faiss efSearch): higher is closer to exhaustive
    build_threads: int  # faiss threads while building; 1 gives the same index bytes on every run
    batch_size: int  # songs encoded per batch by embed

    def validate(self) -> None:
        if min(self.candidates, self.hnsw_m, self.ef_construction, self.ef_search, self.build_threads,
               self.batch_size) < 1:
            raise ConfigError("retrieval: every value must be >= 1")


# --------------------------------------------------------------------------------------------------
# Strict loading
# --------------------------------------------------------------------------------------------------


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (typing.Union, types.UnionType):
        errors = []
        for a in typing.get_args(tp):
            try:
                return _coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError("; ".join(errors))
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {value!r}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            # YAML 1.1 reads "1e-5" as a string; accept numeric strings for floats only
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    value = None
                if value is not None and math.isfinite(value):
                    return value
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {tp!r}")  # pragma: no cover


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, failing on unknown or missing keys."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key {where + '.' if where else ''}{unknown[0]} (allowed: {', '.join(sorted(fields))})"
        )
    kwargs = {}
    for name in fields:
        path = f"{where}.{name}" if where else name
        if name not in data:  # strict: params must spell out every key, defaults are for code only
            raise ConfigError(f"missing key {path}")
        kwargs[name] = _coerce(data[name], hints[name], path)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError:
            raise
        except ValueError as e:  # model configs raise plain ValueError: name the section here
            raise ConfigError(f"{where}: {e}" if where and not str(e).startswith(where) else str(e)) from None
    return obj


def to_dict(obj: Any) -> dict:
    """Plain-python view of a config dataclass (tuples become lists), e.g. for checkpoints."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        return v

    return conv(obj)


def read_yaml(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


SECTIONS: dict[str, type] = {
    "paths": PathsConfig,
    "raw": RawConfig,
    "synth": SynthConfig,
    "extract_pairs": ExtractPairsConfig,
    "expand_lyrics": ExpandLyricsConfig,
    "chunk_audio": ChunkAudioConfig,
    "splits": SplitsConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "retrieval": RetrievalConfig,
    "fidelity": FidelityConfig,
}


@dataclass(frozen=True)
class ModelSection:
    """A model's params section: its architecture config plus its optimiser settings."""

    model: Any
    optim: OptimConfig


def section(params: dict, name: str) -> Any:
    """Typed view of one pipeline section (``paths``, ``train``, ...) of a parsed params mapping."""
    if name not in SECTIONS:
        raise ConfigError(f"unknown section {name} (pipeline sections: {', '.join(SECTIONS)})")
    if name not in params:
        raise ConfigError(f"missing section {name}")
    return from_dict(SECTIONS[name], params[name], name)


def model_section(params: dict, name: str, config_type: type) -> ModelSection:
    """Typed view of model section ``name``: ``model`` as ``config_type``, ``optim`` as :class:`OptimConfig`."""
    if name not in params:
        raise ConfigError(f"missing section {name}")
    raw = params[name]
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected a mapping")
    unknown = sorted(set(raw) - {"model", "optim"})
    if unknown:
        raise ConfigError(f"unknown key {name}.{unknown[0]} (allowed: model, optim)")
    for k in ("model", "optim"):
        if k not in raw:
            raise ConfigError(f"missing key {name}.{k}")
    return ModelSection(model=from_dict(config_type, raw["model"], f"{name}.model"),
                        optim=from_dict(OptimConfig, raw["optim"], f"{name}.optim"))


def read_params(path: str | Path) -> dict:
    """Parse a params file (a YAML mapping); sections are typed and checked when a stage takes them."""
    return read_yaml(path)


def load_params(path: str | Path, model_configs: Mapping[str, type]) -> dict:
    """Parse a params file and validate every section: the pipeline's and one per model in
    ``model_configs`` (name -> config dataclass); an unknown section fails too. Returns the mapping."""
    params = read_yaml(path)
    allowed = set(SECTIONS) | set(model_configs)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown section {unknown[0]} (allowed: {', '.join(sorted(allowed))})")
    for name in SECTIONS:
        section(params, name)
    for name, config_type in model_configs.items():
        model_section(params, name, config_type)
    return params


__all__ = [name for name in dir() if name.endswith("Config")] + [
    "ConfigError",
    "ModelSection",
    "from_dict",
    "load_params",
    "model_section",
    "read_params",
    "read_yaml",
    "section",
    "to_dict",
]
