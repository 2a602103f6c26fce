"""``songsim`` command line: one subcommand per pipeline stage (from ``songsim.stage_table``), running the
same code as ``stages/*.py``, ``songsim similar`` to ask for the songs most like a song, and ``songsim serve``
to serve that over HTTP. Stage subcommands accept both the DVC stage name and its alias (``extract_pairs`` /
``extract-pairs``). Each stage's module is imported only when that stage runs."""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import json
import sys

from songsim.core.config import ConfigError
from songsim.entry import DEFAULT_PARAMS, execute, run_stage, setup_logging, stage_parser
from songsim.stage_table import STAGES, get


def _stage_run(name: str):
    return importlib.import_module(get(name).module).run


def run(stage: str, params_path: str, model: str | None = None) -> dict:
    """Run one stage (DVC name or alias) with ``params_path``; returns its report."""
    spec = get(stage)
    return run_stage(spec, _stage_run(spec.name), params_path, model)


def _hits_text(query: str, hits: list, fmt: str, header: bool) -> str:
    from songsim.serve.explain import why_text

    rows = [(query, h.rank, h.track_id, h.artist or "", h.title or "", round(h.score, 4), round(h.rank_score, 4))
            for h in hits]
    cols = ("query", "rank", "track_id", "artist", "title", "score", "rank_score")
    explained = bool(hits) and hits[0].why is not None
    if fmt == "json":
        return "\n".join(json.dumps(dict(zip(cols, r)) | ({"why": h.why} if explained else {}), ensure_ascii=False)
                         for r, h in zip(rows, hits))
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if header:
            w.writerow(cols + (("why",) if explained else ()))
        w.writerows(r + ((why_text(h.why),) if explained else ()) for r, h in zip(rows, hits))
        return buf.getvalue().rstrip("\n")
    widths = [max([len(c)] + [len(str(r[i])) for r in rows]) for i, c in enumerate(cols)][1:]
    lines = [f"songs like {query}:", "  ".join(c.ljust(w) for c, w in zip(cols[1:], widths)).rstrip()]
    for r, h in zip(rows, hits):
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(r[1:], widths)).rstrip())
        if explained:
            lines.append(f"      why: {why_text(h.why)}")
    return "\n".join(lines)


def similar_main(args: argparse.Namespace) -> int:
    """``songsim similar``: the k most similar catalog songs, from the model's index and scorer."""
    from songsim.core.config import read_params
    from songsim.serve.retrieval import Recommender, RetrievalError

    setup_logging(args.verbose)
    queries = [args.track_id] if args.track_id else []
    if args.queries:
        queries += [q.strip() for q in open(args.queries, encoding="utf-8") if q.strip()]
    if not queries:
        print("songsim similar: give a TRACK_ID or --queries FILE", file=sys.stderr)
        return 2
    try:
        rec = Recommender.from_params(read_params(args.params), args.model)
    except (ConfigError, FileNotFoundError) as e:
        print(f"songsim similar: {e}", file=sys.stderr)
        return 2
    failed = 0
    for n, q in enumerate(queries):
        try:
            hits = rec.similar(q, args.k, args.exclude_same_artist, args.candidates, args.explain)
        except RetrievalError as e:
            print(f"songsim similar: {e}", file=sys.stderr)
            failed += 1
            continue
        print(_hits_text(q, hits, args.format, header=n == 0))
    return 1 if failed else 0


def serve_main(args: argparse.Namespace) -> int:
    """``songsim serve``: the HTTP service over the index@<model> outputs, until interrupted."""
    from songsim.serve.runner import serve

    setup_logging(args.verbose)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    try:
        serve(args.params, args.model, models, args.host, args.port, args.workers, args.watch_interval,
              "debug" if args.verbose else "info", args.answer_threads)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"songsim serve: {e}", file=sys.stderr)
        return 2
    return 0


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
    sim = sub.add_parser("similar", help="the songs most like a song (reads the index@<model> outputs)",
                         description="Rank the catalog songs most similar to TRACK_ID by the model's ranking function "
                         "(rank_score: weighted mean of per-modality cosines, served from an HNSW index over it); "
                         "score: its calibrated estimate of the Last.fm score, in [0, 1].")
    sim.add_argument("track_id", nargs="?", help="query track id (or use --queries)")
    sim.add_argument("-k", type=int, default=10, help="how many songs (default 10)")
    sim.add_argument("--model", default="fused", help="lyrics_regressor, audio_siamese or fused (default)")
    sim.add_argument("--exclude-same-artist", action="store_true", help="drop songs by the query's artist")
    sim.add_argument("--format", choices=("table", "json", "csv"), default="table")
    sim.add_argument("--queries", help="file with one track id per line")
    sim.add_argument("--candidates", type=int, default=None,
                     help="index neighbours fetched, ordered by the ranking score (default: params)")
    sim.add_argument("--explain", action="store_true",
                     help="say why each song matches: modality shares, shared words, agreeing audio facets")
    sim.add_argument("--params", default=DEFAULT_PARAMS, help=f"params file (default: {DEFAULT_PARAMS})")
    sim.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    srv = sub.add_parser("serve", help="songs like X over HTTP, with a page (reads the index@<model> outputs)",
                         description="Serve GET/POST /similar, /search, /healthz, /metrics and a page at / from "
                         "the models' index folders (the same ranking as `songsim similar`). A rebuilt index "
                         "folder is switched to once complete; the old one serves meanwhile.")
    srv.add_argument("--model", default="fused", help="default model of requests that name none (default fused)")
    srv.add_argument("--models", help="comma-separated models to load (default: every model with an index)")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    srv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    srv.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    srv.add_argument("--answer-threads", type=int, default=1,
                     help="threads computing answers beside the event loop (0: on the loop; default 1)")
    srv.add_argument("--watch-interval", type=float, default=2.0,
                     help="seconds between looks for a rebuilt index folder (0: never; default 2)")
    srv.add_argument("--params", default=DEFAULT_PARAMS, help=f"params file (default: {DEFAULT_PARAMS})")
    srv.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if args.stage == "similar":
        return similar_main(args)
    if args.stage == "serve":
        return serve_main(args)
    spec = get(args.stage)
    return execute(spec, _stage_run(spec.name), args)


if __name__ == "__main__":
    sys.exit(main())
