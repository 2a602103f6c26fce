"""``songsim`` command line: one subcommand per pipeline stage (from ``songsim.stage_table``), running the
same code as ``stages/*.py``. Subcommands accept both the DVC stage name and its alias
(``extract_pairs`` / ``extract-pairs``). Each stage's module is imported only when that stage runs."""

from __future__ import annotations

import argparse
import importlib
import sys

from songsim.entry import execute, run_stage, stage_parser
from songsim.stage_table import STAGES, get


def _stage_run(name: str):
    return importlib.import_module(get(name).module).run


def run(stage: str, params_path: str, model: str | None = None) -> dict:
    """Run one stage (DVC name or alias) with ``params_path``; returns its report."""
    spec = get(stage)
    return run_stage(spec, _stage_run(spec.name), params_path, model)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="songsim",
        description="Content-based song similarity (lyrics + audio) over the Million Song Dataset family. "
        "Each subcommand runs one pipeline stage; `dvc repro` runs them all in order.",
    )
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for spec in STAGES:  # the DVC stage name is an alias of the subcommand
        aliases = [spec.name] if spec.name != spec.alias else []
        stage_parser(spec, sub.add_parser(spec.alias, aliases=aliases, help=spec.help))
    args = parser.parse_args(argv)
    spec = get(args.stage)
    return execute(spec, _stage_run(spec.name), args)


if __name__ == "__main__":
    sys.exit(main())
