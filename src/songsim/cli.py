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
    from songsim.serve.recommender import shown_decimals

    d = shown_decimals(hits)  # 4, or more where two different ranking scores would show alike
    rows = [(query, h.rank, h.track_id, h.artist or "", h.title or "", round(h.score, d), round(h.rank_score, d))
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


def _content(args: argparse.Namespace, rec):
    """The song ``--lyrics``/``--bow``/``--h5`` describe (serve.content), or None when none is given."""
    from pathlib import Path

    from songsim.serve.content import Content, Vocabulary, decode_text, read_h5

    if not (args.lyrics or args.bow or args.h5):
        return None
    content = Content()
    if args.lyrics or args.bow:
        vocab = Vocabulary(rec.explain_sources["vocab_path"])
        if args.lyrics:
            content.bag = vocab.from_text(decode_text(Path(args.lyrics).read_bytes(), args.lyrics), args.lyrics)
        else:
            where, line = "--bow", args.bow
            if Path(args.bow).is_file():  # a file holding the line (comments and the vocabulary line skipped)
                where = args.bow
                lines = [x for x in decode_text(Path(args.bow).read_bytes(), where).splitlines()
                         if x.strip() and not x.startswith(("#", "%"))]
                line = lines[0] if len(lines) == 1 else "\n".join(lines)
            content.bag = vocab.from_bow(line, where)
    if args.h5:
        content.audio = read_h5(args.h5, rec.content_config[1], args.h5)
    return content


def _content_account(info: dict) -> str:
    parts = [f"asked by {' and '.join(info['modalities'])} on {info['model']}"]
    lyr = info.get("lyrics", {})
    if lyr.get("source") == "text":
        parts.append(f"{lyr['words']} words read, {lyr['in_vocabulary']} in the vocabulary, "
                     f"{lyr['not_in_vocabulary']} not" + (f" (e.g. {', '.join(lyr['examples_not_in_vocabulary'][:5])})"
                                                        if lyr["not_in_vocabulary"] else ""))
    if info.get("same_as"):
        parts.append(f"this content is catalog song {info['same_as']} (left out, as when asked by id)")
    parts.append(f"model loaded in {info['model_load_s']:.2f} s, song encoded in {info['encode_s']:.2f} s")
    return "songsim similar: " + "; ".join(parts)


def similar_main(args: argparse.Namespace) -> int:
    """``songsim similar``: the k most similar catalog songs to a catalog song (by id: an index look-up,
    no torch) or to a song given by its content (``--lyrics``/``--bow``/``--h5``: encoded by the model)."""
    from songsim.core.config import read_params
    from songsim.serve.recommender import Recommender, RetrievalError

    setup_logging(args.verbose)
    queries = [args.track_id] if args.track_id else []
    if args.queries:
        queries += [q.strip() for q in open(args.queries, encoding="utf-8") if q.strip()]
    by_content = bool(args.lyrics or args.bow or args.h5)
    if by_content and queries:
        print("songsim similar: give a TRACK_ID (or --queries) or content (--lyrics/--bow/--h5), not both",
              file=sys.stderr)
        return 2
    if args.lyrics and args.bow:
        print("songsim similar: --lyrics or --bow, not both (both are the song's words)", file=sys.stderr)
        return 2
    if not queries and not by_content:
        print("songsim similar: give a TRACK_ID, --queries FILE, or the song's content (--lyrics FILE, --bow LINE, "
              "--h5 FILE)", file=sys.stderr)
        return 2
    try:
        rec = Recommender.from_params(read_params(args.params), args.model)
    except (ConfigError, FileNotFoundError) as e:
        print(f"songsim similar: {e}", file=sys.stderr)
        return 2
    if by_content:
        from songsim.serve.content import ContentError  # reads .h5 files: h5py, only when asked by content

        try:
            hits, info = rec.similar_to(_content(args, rec), args.k, args.candidates, args.explain)
        except (ContentError, OSError) as e:
            print(f"songsim similar: {e}", file=sys.stderr)
            return 2
        print(_content_account(info), file=sys.stderr)
        label = " + ".join(x for x in (args.lyrics or (args.bow and "bag of words"), args.h5) if x)
        print(_hits_text(label, hits, args.format, header=True))
        return 0
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
    chosen = next((a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("-")), None)
    for spec in STAGES:  # the DVC stage name is an alias of the subcommand
        aliases = [spec.name] if spec.name != spec.alias else []
        stage = sub.add_parser(spec.alias, aliases=aliases, help=spec.help)
        if chosen in (spec.alias, spec.name):  # only the stage run (its help reads the params file)
            stage_parser(spec, stage)
    sim = sub.add_parser("similar", help="the songs most like a song (reads the index@<model> outputs)",
                         description="Rank the catalog songs most similar to TRACK_ID by the model's ranking function "
                         "(rank_score: weighted mean of per-modality cosines, served from an HNSW index over it); "
                         "score: its calibrated estimate of the Last.fm score, in [0, 1]. A song outside the "
                         "catalog is asked about by its content (--lyrics/--bow, --h5, or both): the model "
                         "encodes it (torch is loaded; the time it takes is printed).")
    sim.add_argument("track_id", nargs="?", help="query track id (or use --queries)")
    sim.add_argument("-k", type=int, default=10, help="how many songs (default 10)")
    sim.add_argument("--model", default="fused", help="lyrics_regressor, audio_siamese or fused (default)")
    sim.add_argument("--exclude-same-artist", action="store_true", help="drop songs by the query's artist")
    sim.add_argument("--format", choices=("table", "json", "csv"), default="table")
    sim.add_argument("--queries", help="file with one track id per line")
    sim.add_argument("--lyrics", metavar="FILE", help="ask by a song's lyrics: a plain-text (UTF-8) file, "
                     "tokenised and stemmed as the musiXmatch words are")
    sim.add_argument("--bow", metavar="LINE_OR_FILE", help="ask by a musiXmatch bag-of-words line "
                     "(TRACK_ID,MXM_ID,idx:cnt,... or idx:cnt,...), or a file holding one")
    sim.add_argument("--h5", metavar="FILE", help="ask by a song's audio: its MSD track file (.h5)")
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
