"""Start ``songsim serve``: the model slots from the pipeline's params, the app, and uvicorn.

The params dict comes from the caller (the CLI reads the params file); the index folders, checkpoints and
song table are the ones the pipeline's ``paths`` name. Several uvicorn workers need the app built inside
each worker: :func:`app_from_env` is that factory, configured through ``SONGSIM_SERVE`` (JSON).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from songsim.core.config import read_params, section
from songsim.models import MODELS
from songsim.serve.recommender import Recommender, read_catalog
from songsim.serve.retrieval import MANIFEST
from songsim.serve.service import ModelSlot, SongSearch

log = logging.getLogger(__name__)
ENV = "SONGSIM_SERVE"


def indexed_models(params: dict) -> list[str]:
    """Models whose index folder holds a finished build (its manifest)."""
    paths = section(params, "paths")
    return [m for m in MODELS if (paths.model_files(m)["index"] / MANIFEST).exists()]


def load_slots(params: dict, models: list[str] | None = None, with_catalog: bool = True) -> dict[str, ModelSlot]:
    """One loaded :class:`ModelSlot` per model (default: every model with an index)."""
    paths = section(params, "paths")
    have = indexed_models(params)
    models = models or have
    missing = [m for m in models if m not in have]
    if missing:
        raise FileNotFoundError(f"no index for {', '.join(missing)} under {paths.index} (indexed: "
                                f"{', '.join(have) or 'none'}): run `dvc repro` first")
    if not models:
        raise FileNotFoundError(f"no model index under {paths.index}: run `dvc repro` first")
    catalog = read_catalog(paths.lyrics, paths.audio) if with_catalog else None
    slots = {}
    for m in models:
        files = paths.model_files(m)
        slots[m] = ModelSlot(m, files["index"], files["ckpt"],
                             lambda m=m: Recommender.from_params(params, m, with_catalog=with_catalog, catalog=catalog))
        log.info("serving %s: %d songs", m, len(slots[m].current.rec.ids))
    return slots


def build_app(params: dict, default_model: str, models: list[str] | None = None, watch_interval: float = 2.0,
              answer_threads: int = 1):
    """The app over ``params``' outputs (FastAPI is imported here, so the pipeline never needs it)."""
    import faiss

    from songsim.serve.app import create_app

    faiss.omp_set_num_threads(1)  # one query at a time per request: OpenMP start-up costs more than it saves
    if models and default_model not in models:
        models = [default_model, *models]
    slots = load_slots(params, models)
    search = SongSearch.from_table(section(params, "paths").songs, slots)
    return create_app(slots, default_model, search, watch_interval, answer_threads)


def app_from_env():
    """uvicorn factory (``songsim.serve.runner:app_from_env``) for several workers."""
    cfg = json.loads(os.environ[ENV])
    return build_app(read_params(cfg["params"]), cfg["model"], cfg.get("models"), cfg.get("watch_interval", 2.0),
                     cfg.get("answer_threads", 1))


def serve(params_path: str, default_model: str, models: list[str] | None, host: str, port: int, workers: int = 1,
          watch_interval: float = 2.0, log_level: str = "info", answer_threads: int = 1) -> None:
    """Run the service until interrupted."""
    import uvicorn

    if workers > 1:
        os.environ[ENV] = json.dumps({"params": str(Path(params_path).resolve()), "model": default_model,
                                      "models": models, "watch_interval": watch_interval,
                                      "answer_threads": answer_threads})
        uvicorn.run("songsim.serve.runner:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=False)
        return
    app = build_app(read_params(params_path), default_model, models, watch_interval, answer_threads)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
