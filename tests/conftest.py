"""Shared fixtures: the genuine samples in ../shared/realdata, and a tiny synthetic world + pipeline run."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("SONGSIM_REALDATA", ROOT.parent / "shared" / "realdata")).resolve()


def realdata_dir() -> Path:
    """The genuine samples; skip when absent on a user's clone, fail under CI (CI=true)."""
    if REALDATA.is_dir():
        return REALDATA
    msg = f"genuine data samples not found at {REALDATA} (set SONGSIM_REALDATA or clone ../shared beside the repo)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {msg}")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def realdata() -> Path:
    return realdata_dir()


def pytest_collection_modifyitems(config, items):
    """Every test that reads the genuine samples (it asks for the ``realdata`` fixture, itself or through
    another fixture) carries the ``realdata`` marker: ``-m realdata`` runs them, ``-m "not realdata"`` leaves
    them out."""
    for item in items:
        if "realdata" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realdata)


def shrink_params(base: dict, root: Path | None, size: str = "tiny") -> dict:
    """The real params.yaml, shrunk for tests: tiny world, small models, two epochs; paths moved
    under ``root`` (or left repo-relative when ``root`` is None)."""
    p = copy.deepcopy(base)
    if root is not None:
        p["paths"] = {k: str(root / v) for k, v in p["paths"].items()}
        raw_dir = Path(p["paths"]["raw_dir"])
        p["raw"] = {"lastfm": str(raw_dir / "lastfm"), "mxm": str(raw_dir / "mxm"), "msd": str(raw_dir / "msd"),
                    "glove": str(raw_dir / "glove" / "glove.6B.50d.world.txt"),
                    "oracle": str(raw_dir / "oracle.parquet"), "latent": str(raw_dir / "latent.parquet"),
                    "mxm_reverse_mapping": str(raw_dir / "mxm" / "mxm_reverse_mapping.txt")}
    p["synth"]["size"] = size
    p["chunk_audio"].update(frames=32, rows_per_shard=50, workers=1)
    p["expand_lyrics"]["max_len"] = 64
    for name in ("lyrics_classifier", "lyrics_regressor", "fused"):
        enc = p[name]["model"].get("encoder") or p[name]["model"]["lyrics"]
        enc["lstm_units"] = [8] * len(enc["lstm_units"])
        if name != "lyrics_classifier":
            enc.update(embedding_dim=8, glove_init=False)  # the classifier keeps the GloVe path under test
        else:  # ... and the published BiLSTM over expand_lyrics' sequences (the demo's encoders read bags)
            enc.update(kind="bilstm", input="tokens", stopwords="none")
    for name in ("audio_siamese", "fused"):
        enc = p[name]["model"].get("encoder") or p[name]["model"]["audio"]
        enc.update(conv_channels=[4, 8, 8], dense=[16], embed_dim=8)
    for name in ("lyrics_classifier", "lyrics_regressor", "audio_siamese", "fused"):
        p[name]["model"]["dense"] = [16, 8]
        p[name]["optim"].update(epochs=2, batch_size=64, t_max=2)
    p["train"]["threads"] = 1
    return p


@pytest.fixture(scope="session")
def base_params() -> dict:
    with open(ROOT / "params.yaml") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, base_params) -> tuple[Path, dict]:
    """Every stage of the pipeline (through the CLI code path) on a tiny world; shared by many tests."""
    from songsim.cli import run

    root = tmp_path_factory.mktemp("tiny_run")
    params = shrink_params(base_params, root)
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    for stage in ("synth", "extract-pairs", "expand-lyrics", "list-msd", "chunk-audio", "build-splits"):
        run(stage, str(path))
    for model in ("lyrics_classifier", "lyrics_regressor", "audio_siamese", "fused"):
        run("train", str(path), model)
        run("evaluate", str(path), model)
    for model in ("lyrics_regressor", "audio_siamese", "fused"):
        run("embed", str(path), model)
        run("index", str(path), model)
    return path, params


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """Raw files of a tiny world (with both SQLite variants), in the demo's dense coverage."""
    from songsim.core.published import DENSE
    from songsim.synth.write import write_world

    out = tmp_path_factory.mktemp("tiny_world")
    write_world(out, "tiny", 3, lastfm_sqlite=True, mxm_sqlite=True, coverage=DENSE)
    return out
