"""``songsim`` command line: one subcommand per pipeline stage, running the same code as stages/*.py."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from songsim.config import ConfigError, load_params, section
from songsim.models import MODEL_CONFIGS
from songsim.runtime import configure_arrow_memory

STAGES = {
    "synth": "write the synthetic world (Last.fm zips/db, musiXmatch txt, MSD .h5 tree, GloVe txt, oracle)",
    "extract-pairs": "Last.fm similars -> deduplicated pairs parquet",
    "expand-lyrics": "musiXmatch bags of words -> token sequences parquet + vocabulary",
    "chunk-audio": "MSD HDF5 timbre/chroma -> fixed-size Parquet shards + manifest",
    "build-splits": "train/val/test pair splits for the lyrics and multimodal sets",
    "train": "train one model (best + resumable last checkpoint, per-epoch history)",
    "evaluate": "metrics JSON with baselines, and plot data, for one trained model",
}


def run(stage: str, params_path: str, model: str | None = None) -> dict:
    """Run one stage with the typed sections of ``params_path``; returns its report."""
    from songsim import pipeline as P

    params = load_params(params_path)
    paths = section(params, "paths")
    if stage == "synth":
        return P.run_synth(paths, section(params, "synth"))
    raw = section(params, "raw")
    if stage == "extract-pairs":
        return P.run_extract_pairs(paths, raw, section(params, "extract_pairs"))
    if stage == "expand-lyrics":
        return P.run_expand_lyrics(paths, raw, section(params, "expand_lyrics"))
    if stage == "chunk-audio":
        return P.run_chunk_audio(paths, raw, section(params, "chunk_audio"))
    if stage == "build-splits":
        return P.run_build_splits(paths, section(params, "splits"), section(params, "extract_pairs"))
    if model not in MODEL_CONFIGS:
        raise ConfigError(f"--model must be one of {', '.join(MODEL_CONFIGS)}, got {model!r}")
    if stage == "train":
        return P.run_train(paths, raw, section(params, "train"), model, section(params, model))
    if stage == "evaluate":
        return P.run_evaluate(paths, raw, section(params, "train"), section(params, "evaluate"), model)
    raise ValueError(f"unknown stage {stage!r}")


def stage_parser(stage: str, parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog=f"stages/{stage.replace('-', '_')}.py", description=STAGES[stage])
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if stage in ("train", "evaluate"):
        p.add_argument("--model", required=True, choices=sorted(MODEL_CONFIGS), help="which model")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def stage_main(stage: str, argv: list[str] | None = None) -> int:
    """Entry point of a ``stages/<stage>.py`` script."""
    args = stage_parser(stage).parse_args(argv)
    return _run(stage, args)


def _run(stage: str, args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    configure_arrow_memory()
    try:
        rep = run(stage, args.params, getattr(args, "model", None))
    except ConfigError as e:
        logging.getLogger("songsim").error("config error: %s", e)
        return 2
    summary = {k: v for k, v in rep.items() if not isinstance(v, dict | list)} if isinstance(rep, dict) else {}
    logging.getLogger("songsim").info("%s done: %s", stage, json.dumps(summary)[:2000])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="songsim",
        description="Content-based song similarity (lyrics + audio) over the Million Song Dataset family. "
        "Each subcommand runs one pipeline stage; `dvc repro` runs them all in order.",
    )
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, help_ in STAGES.items():
        stage_parser(name, sub.add_parser(name, help=help_, description=help_))
    args = parser.parse_args(argv)
    return _run(args.stage, args)


if __name__ == "__main__":
    sys.exit(main())
