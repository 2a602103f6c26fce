"""Reader references over the robustness worlds: where a pair-MAE claim fails, is it the model or the inputs?

    python scripts/reader_reference.py --worlds 3 11 19 23 31 7
    python scripts/reader_reference.py --worlds 7 11 13 --size medium --set synth.coverage.lyrics=0.238 ...
        --prefixes realdense --out data/experiments/reader_reference_dense.json      (make robustness-medium)

For each world seed: the world and its splits are built in a temporary folder with the stages' own code
(synth_world, extract_pairs, expand_lyrics, chunk_audio, build_splits; ``--size`` and each ``--set
KEY=VALUE`` as the harness's runs of those worlds had them, every other param as in params.yaml), then,
for the lyrics regressor and the audio model on the test pairs of the split set each trains on
(``models.registry``; MAE against the train median, as the evaluation reports it): the modality ceiling
(the latent factors themselves: an upper bound) and the reader reference (``songsim.judge.reader``: a
ridge reader of the inputs taught by the latent factors, then the ceiling's pair model: a level a reader
of the inputs does reach; for the lyrics three, of the bag of words, of the words' mean GloVe vector, and
of the world's own model of the words: the factors' maximum a posteriori estimate,
``likelihood_features``); and the lyrics classifier's ceiling as the evaluation estimates it and fitted
harder (accuracy over the majority class). The models' own figures come from the recorded harness runs
(``data/experiments/<prefix>-w<W>-s<S>.json``, ``--prefixes``) and, without ``--size`` or ``--set``, the
committed run (world 7). Writes ``--out`` (``data/experiments/reader_reference.json``);
``scripts/results_table.py --write`` renders it. About a minute per default-size world on 2 cores.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_table as rt  # noqa: E402

MODELS = {"lyrics_regressor": (True, False), "audio_siamese": (False, True)}  # reads (lyrics, audio)
PREFIXES = ("rob", "fresh", "unseen")
STAGES = ("synth", "extract-pairs", "expand-lyrics", "list-msd", "chunk-audio", "build-splits")


def world_params(root: Path, seed: int, size: str | None = None, overrides: tuple[str, ...] = ()) -> Path:
    """params.yaml with ``synth.seed`` (and ``synth.size``) set, each ``KEY=VALUE`` override applied (as
    ``dvc exp run -S`` does: the value read as YAML), and every path under ``root``."""
    p = copy.deepcopy(yaml.safe_load((rt.ROOT / "params.yaml").read_text()))
    for o in overrides:
        key, eq, value = o.partition("=")
        if not eq or key in ("synth.seed", "synth.size"):
            raise SystemExit(f"--set {o}: KEY=VALUE, and not synth.seed / synth.size (those are --worlds / --size)")
        *parents, leaf = key.split(".")
        node = p
        for k in parents:
            node = node.get(k) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise SystemExit(f"--set {o}: params.yaml has no {key}")
        node[leaf] = yaml.safe_load(value)
    if size:
        p["synth"]["size"] = size
    raw_dir = p["paths"]["raw_dir"]
    p["paths"] = {k: str(root / v) for k, v in p["paths"].items()}
    p["raw"] = {k: (str(root / v) if isinstance(v, str) and v.startswith(raw_dir) else v) for k, v in p["raw"].items()}
    p["synth"]["seed"] = seed
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def word_vectors(params: dict) -> np.ndarray:
    """The vocabulary's GloVe vectors (row ``i`` = word id ``i``), found as the lyrics encoders find them."""
    import pyarrow.parquet as pq

    from songsim.ingest.readers.glove import match_glove
    from songsim.ingest.readers.mxm import read_reverse_mapping

    raw = params["raw"]
    vocab = pq.read_table(params["paths"]["vocab"]).column("word").to_pylist()
    words = read_reverse_mapping(raw["mxm_reverse_mapping"]) if raw["mxm_reverse_mapping"] else None
    return match_glove(raw["glove"], vocab, words).vectors


def word_model(params: dict) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """The synthetic world's own model of the words (``synth.world.World.lyrics_counts``): each word's
    prior logit, its factors times the topic strength (rows: word ids 1..V), and the widths of the latent
    parts the words see (shared, lyrics)."""
    import pyarrow.parquet as pq

    from songsim.synth import calibration as cal
    from songsim.synth.world import D, World

    world = World(params["synth"]["size"], params["synth"]["seed"])
    vocab = pq.read_table(params["paths"]["vocab"]).column("word").to_pylist()
    if vocab != list(world.words):
        raise ValueError(f"{params['paths']['vocab']}: not the world's vocabulary in its order")
    return world.word_prior, cal.TOPIC * world.word_emb, (D, D)


def measure(params: dict) -> dict:
    """Ceiling and reader reference of each model of ``MODELS`` on the world ``params`` point at (for
    the lyrics, three readers: of the bag of words, of the words' mean GloVe vector and of the world's
    word model), then the classifier's (:func:`classifier_ceilings`, given the word-model features of the
    lyrics songs, so they are solved once)."""
    from songsim.judge.ceiling import model_ceiling
    from songsim.judge.reader import (
        audio_features,
        glove_features,
        likelihood_features,
        lyrics_features,
        reader_reference,
    )
    from songsim.learn.data import load_pairs, load_songs, split_track_ids
    from songsim.models import MODELS as SPECS

    out, words = {}, None
    for name, (lyrics, audio) in MODELS.items():
        d = Path(params["paths"]["splits"]) / SPECS[name].split_set  # the pairs the model trains and is tested on
        ids = split_track_ids(*(d / f"{s}.parquet" for s in ("train", "val", "test")))
        songs = load_songs(ids, None, params["paths"]["audio"] if audio else None)
        train, test = (load_pairs(d / f"{s}.parquet", songs) for s in ("train", "test"))
        feats = lyrics_features(params["paths"]["lyrics"], songs.track_ids) if lyrics else audio_features(songs.audio)
        median = float(np.median(train.score))
        base = float(np.abs(test.score - median).mean())
        ceil = model_ceiling(params["raw"]["latent"], songs, SPECS[name], train, test, 0)
        ref = reader_reference(params["raw"]["latent"], songs, feats, lyrics, audio, "regression", train, test, 0)
        ceil_mae, ref_mae = (float(np.abs(test.score - p).mean()) for p in (ceil, ref))
        out[name] = {"train_median_mae": round(base, 6),
                     "ceiling_vs_median_pct": round(-100 * (1 - ceil_mae / base), 2),
                     "reader_vs_median_pct": round(-100 * (1 - ref_mae / base), 2), "test_pairs": len(test)}
        others = {}
        if lyrics and params["raw"]["glove"]:
            others["reader_glove_vs_median_pct"] = glove_features(feats, word_vectors(params))  # feats: the bags
        if lyrics:
            words = songs.track_ids, likelihood_features(feats, *word_model(params))
            others["reader_likelihood_vs_median_pct"] = words[1]
        for key, vec in others.items():
            pred = reader_reference(params["raw"]["latent"], songs, vec, lyrics, audio, "regression", train, test, 0)
            out[name][key] = round(-100 * (1 - float(np.abs(test.score - pred).mean()) / base), 2)
    out["lyrics_classifier"] = classifier_ceilings(params, words)
    return out


def classifier_ceilings(params: dict, words: tuple[list[str], np.ndarray] | None = None) -> dict:
    """The lyrics classifier's ceiling, accuracy over the majority class on its test pairs in points: as
    the evaluation estimates it (gradient boosting on the training pairs, 300 rounds at 0.1) and fitted
    harder (training and validation pairs, 1,500 rounds at 0.03). Both are estimates of the best a
    perfect lyrics reader does; the harder fit says how far the first is from that best. Then the reader
    that knows the world's word model (``likelihood_features``), fitted as the evaluation's ceiling is;
    ``words`` (track ids, features) are those features when already solved for the same songs."""
    from songsim.judge.ceiling import LatentTable, ceiling_predictions, visible_parts
    from songsim.judge.reader import likelihood_features, lyrics_features, reader_reference
    from songsim.learn.data import load_pairs, load_songs, split_track_ids

    d = Path(params["paths"]["splits"]) / "lyrics"
    sets = [d / f"{s}.parquet" for s in ("train", "val", "test")]
    songs = load_songs(split_track_ids(*sets), None, None)
    train, val, test = (load_pairs(s, songs) for s in sets)
    latent = LatentTable(params["raw"]["latent"], set(songs.track_ids))
    row = latent.rows(songs.track_ids)
    parts = visible_parts(True, False)
    majority = int(train.label.mean() >= 0.5)
    base = float(np.mean(test.label == majority))
    fits = {"evaluation": ([train], 300, 0.1), "harder": ([train, val], 1500, 0.03)}
    out = {"test_pairs": len(test)}
    for name, (fit, rounds, rate) in fits.items():
        src, tgt = (row[np.concatenate([getattr(p, c) for p in fit])] for c in ("src", "tgt"))
        y = np.concatenate([p.label for p in fit])
        prob = ceiling_predictions(latent, parts, "classification", src, tgt, y, row[test.src], row[test.tgt],
                                   rounds=rounds, learning_rate=rate)
        acc = float(np.mean((prob >= 0.5) == test.label))
        out[f"ceiling_{name}_over_majority_points"] = round(100 * (acc - base), 2)
    if words is None or list(words[0]) != list(songs.track_ids):
        words = songs.track_ids, likelihood_features(lyrics_features(params["paths"]["lyrics"], songs.track_ids),
                                                     *word_model(params))
    prob = reader_reference(params["raw"]["latent"], songs, words[1], True, False, "classification", train, test, 0)
    out["reader_likelihood_over_majority_points"] = round(100 * (float(np.mean((prob >= 0.5) == test.label)) - base), 2)
    return out


def model_runs(world: int, committed_world: int | None, prefixes: tuple[str, ...] = PREFIXES
               ) -> dict[str, dict[str, float]]:
    """The models' MAE vs the train median on ``world`` (and the classifier's accuracy over the majority,
    points): each recorded harness run named ``<prefix>-w<world>-s*`` (by default the development ``rob-``,
    held-out ``fresh-`` and ``unseen-`` worlds), and the committed run when ``world`` is its world."""
    runs = {}
    for prefix in prefixes:  # the committed settings' runs only (not comparisons of other settings)
        for path in sorted(rt.EXPERIMENTS.glob(f"{prefix}-w{world}-s*.json")):
            runs[path.stem] = json.loads(path.read_text())["reports"]
    if world == committed_world:
        runs["committed"] = rt.load_reports(rt.ROOT / "data" / "reports")
    return {n: {**{m: round(-100 * r[m]["mae_improvement_over_train_median"], 2) for m in MODELS},
                "lyrics_classifier": round(100 * r["lyrics_classifier"]["gain_over_majority_accuracy"], 2)}
            for n, r in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", type=int, nargs="+", default=[3, 11, 19, 23, 31, 7])
    ap.add_argument("--out", type=Path, default=rt.EXPERIMENTS / "reader_reference.json")
    ap.add_argument("--size", choices=["tiny", "default", "medium", "large"], help="synth.size of every world")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a param override of every world (as scripts/robustness.py --set); repeatable")
    ap.add_argument("--prefixes", nargs="+", default=list(PREFIXES),
                    help="the harness runs (<prefix>-w<W>-s<S>) whose models are set beside the readers")
    ap.add_argument("--add", action="store_true", help="keep the worlds already in --out (measure only the others; "
                    "every world's model runs are read again)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from songsim.cli import run

    # the committed run sits beside its world only when the worlds are built as it was (no size or override)
    params = yaml.safe_load((rt.ROOT / "params.yaml").read_text())
    committed = None if args.size or args.set else params["synth"]["seed"]
    prefixes = tuple(args.prefixes)
    result = {"worlds": {}, "size": args.size, "set": args.set, "prefixes": list(prefixes)}
    if args.add and args.out.exists():
        result = json.loads(args.out.read_text())
        if (result.get("size"), result.get("set", [])) != (args.size, args.set):
            raise SystemExit(f"--add: {args.out} holds worlds built with --size {result.get('size')} --set "
                             f"{result.get('set', [])}; give the same, or another --out")
        result["prefixes"] = list(prefixes)
        for w, row in result["worlds"].items():
            row["models"] = model_runs(int(w), committed, prefixes)
    for w in args.worlds:
        if str(w) in result["worlds"]:
            continue
        with tempfile.TemporaryDirectory(prefix=f"songsim-reader-w{w}-") as tmp:
            path = world_params(Path(tmp), w, args.size, tuple(args.set))
            for stage in STAGES:
                run(stage, str(path))
            row = measure(yaml.safe_load(path.read_text()))
        row["models"] = model_runs(w, committed, prefixes)
        result["worlds"][str(w)] = row
        print(f"world {w}: {json.dumps(row)}", flush=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(rt.reader_table(result))


if __name__ == "__main__":
    main()
