"""What every stage entry point shares: the stage description (:class:`StageSpec`), the argument parser
built from it, logging, the Arrow memory pool, parsing the params file, and turning errors into one clear
line and an exit code."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from songsim.core.config import ConfigError, read_params
from songsim.core.runtime import configure_arrow_memory

log = logging.getLogger("songsim")
DEFAULT_PARAMS = "params.yaml"  # the entry points' default; library code takes parsed sections


@dataclass(frozen=True)
class StageSpec:
    """One pipeline stage, as listed in ``songsim.stage_table``."""

    name: str  # the DVC stage name and the entry script stages/<name>.py
    alias: str  # the CLI subcommand (both spellings are accepted)
    module: str  # the module whose run() the stage calls
    help: str
    reads: tuple[str, ...]  # params keys naming what the stage reads
    writes: tuple[str, ...]  # params keys naming what it writes
    per_model: bool = False  # train@<model> / evaluate@<model>: takes --model


def _lookup(params: dict, dotted: str) -> object:
    node: object = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return "?"
        node = node[part]
    return node


def describe(spec: StageSpec, params_path: str = DEFAULT_PARAMS) -> str:
    """Help epilog: what the stage reads and writes, with the values in ``params_path`` when readable."""
    try:
        params = read_params(params_path) if Path(params_path).exists() else {}
    except (OSError, ValueError):
        params = {}

    def show(keys: tuple[str, ...]) -> str:
        return "; ".join(f"{k} = {_lookup(params, k)}" if params and "." in k else k for k in keys)

    return f"reads: {show(spec.reads)}\nwrites: {show(spec.writes)}"


def stage_parser(spec: StageSpec, parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog=f"stages/{spec.name}.py", description=spec.help)
    p.description = spec.help
    p.epilog = describe(spec)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--params", default=DEFAULT_PARAMS, help=f"params file (default: {DEFAULT_PARAMS})")
    if spec.per_model:
        p.add_argument("--model", required=True, help="which model (a model section of the params file)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def reports_hint(params_path: str | Path) -> str:
    """Where the stage reports are, from the params file when it can be read."""
    try:
        return str(read_params(params_path)["paths"]["reports"])
    except Exception:  # noqa: BLE001 - only a hint
        return "paths.reports"


def run_stage(spec: StageSpec, run: Callable[..., dict], params_path: str | Path, model: str | None = None) -> dict:
    """Parse the params file and run the stage; returns its report."""
    params = read_params(params_path)
    if spec.per_model:
        return run(params, model)
    return run(params)


def execute(spec: StageSpec, run: Callable[..., dict], args: argparse.Namespace) -> int:
    """Run a stage for parsed ``args``: exit code 0 on success, 2 on a params error."""
    setup_logging(args.verbose)
    configure_arrow_memory()
    try:
        rep = run_stage(spec, run, args.params, getattr(args, "model", None))
    except ConfigError as e:
        log.error("config error: %s", e)
        return 2
    except KeyboardInterrupt:
        log.error("%s interrupted; its outputs were not written (a later run starts clean, or resumes training)",
                  spec.name)
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line, the traceback with -v
        if args.verbose:
            log.exception("%s failed", spec.name)
        else:
            log.error("%s failed: %s: %s  (traceback: add -v; reports: %s)", spec.name, type(e).__name__, e,
                      reports_hint(args.params))
        return 1
    summary = {k: v for k, v in rep.items() if _scalar_or_short_list(v)} if isinstance(rep, dict) else {}
    log.info("%s done: %s", spec.name, json.dumps(summary)[:2000])
    return 0


def _scalar_or_short_list(v) -> bool:
    """A report value the one-line summary shows: a scalar, or a list of up to 8 scalars (an ensemble's
    best epochs); tables and nested blocks stay in the report file."""
    if isinstance(v, list):
        return len(v) <= 8 and not any(isinstance(x, dict | list) for x in v)
    return not isinstance(v, dict)


def stage_main(spec: StageSpec, run: Callable[..., dict], argv: list[str] | None = None) -> int:
    """Entry point of a ``stages/<name>.py`` script."""
    return execute(spec, run, stage_parser(spec).parse_args(argv))
