"""Evaluate a trained model on its val/test pairs, next to trivial baselines on the same pairs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from songsim.core.checkpoint import load_checkpoint, model_spec, pick_device
from songsim.core.config import EvaluateConfig, RetrievalConfig, TrainConfig, section
from songsim.core.metrics import calibrate, classification_metrics, regression_metrics
from songsim.core.writers import write_csv, write_json
from songsim.ingest.audio_shards import AudioShards
from songsim.judge.baselines import audio_unit_means, pair_cosines, pair_rows, tfidf_rows
from songsim.judge.ceiling import ceiling_note, ceiling_share, model_ceiling
from songsim.judge.evaluate_ranking import evaluate_ranking, tune_hybrid
from songsim.learn.data import PairData, SongTable, load_pairs, load_songs, split_track_ids
from songsim.learn.inference import predict, targets
from songsim.models.registry import ModelSpec

log = logging.getLogger(__name__)


def _split_paths(splits_dir: str | Path, set_name: str) -> dict[str, Path]:
    return {s: Path(splits_dir) / set_name / f"{s}.parquet" for s in ("train", "val", "test")}


ORACLE_BATCH = 1 << 20  # oracle rows read at once


def oracle_lookup(oracle_path: str | Path, pairs: PairData, songs: SongTable) -> np.ndarray:
    """Oracle score per pair (NaN where the world has none, e.g. sampled negatives); the oracle's track ids
    are mapped to ``songs`` rows column by column and the pairs joined on rows. The oracle file is read in
    batches of ``ORACLE_BATCH`` rows, each keeping only the pairs of ``pairs``' songs: the whole file's
    track id strings are never held at once."""
    used = pair_rows(pairs)  # only the pairs' songs: the oracle of other pairs is never held
    value_set = pa.array(songs.ids(used).tolist(), pa.string())
    parts: dict[str, list[np.ndarray]] = {"src": [], "tgt": [], "oracle": []}
    for b in pq.ParquetFile(oracle_path).iter_batches(batch_size=ORACLE_BATCH, columns=["src", "tgt", "oracle"]):
        src, tgt = (pc.index_in(b.column(c), value_set=value_set) for c in ("src", "tgt"))
        keep = pc.and_(pc.is_valid(src), pc.is_valid(tgt))
        parts["src"].append(used[src.filter(keep).to_numpy()].astype(np.int32))
        parts["tgt"].append(used[tgt.filter(keep).to_numpy()].astype(np.int32))
        parts["oracle"].append(b.column("oracle").filter(keep).to_numpy())
    o = pl.DataFrame({"src": np.concatenate(parts["src"]) if parts["src"] else np.zeros(0, np.int32),
                      "tgt": np.concatenate(parts["tgt"]) if parts["tgt"] else np.zeros(0, np.int32),
                      "oracle": np.concatenate(parts["oracle"]) if parts["oracle"] else np.zeros(0)})
    both = pl.concat([o, o.select(pl.col("tgt").alias("src"), pl.col("src").alias("tgt"), "oracle")])
    both = both.unique(subset=["src", "tgt"], keep="first", maintain_order=True)
    q = pl.DataFrame({"src": pairs.src, "tgt": pairs.tgt, "k": np.arange(len(pairs))})
    j = q.join(both, on=["src", "tgt"], how="left").sort("k")
    return j["oracle"].fill_null(np.nan).to_numpy().astype(np.float64)


def _on_multimodal_test(spec: ModelSpec, model, splits_dir, lyrics_path, features_dir, tcfg: TrainConfig, device,
                        amp: bool, seen_ids: set[str]) -> tuple[PairData, np.ndarray] | None:
    """A model's predictions on the multimodal test pairs (songs with both), where all four models compare
    on the same pairs; only when none of those songs was in this model's train/val."""
    mm = _split_paths(splits_dir, "multimodal")["test"]
    if not mm.exists():
        return None
    mine = _split_paths(splits_dir, spec.split_set)
    fit_ids = split_track_ids(mine["train"], mine["val"])
    mm_ids = split_track_ids(mm)
    if mm_ids & fit_ids:
        log.warning("%s: multimodal test songs overlap this model's training songs; no cross-set test", spec.name)
        return None
    songs = load_songs(mm_ids, lyrics_path if spec.uses_lyrics else None, features_dir if spec.uses_audio else None,
                       spec.bag_words(model.cfg))
    pairs = load_pairs(mm, songs)
    return pairs, predict(model, pairs, songs, tcfg.eval_batch_size, device, amp)


def modality_masks(songs: SongTable, lyrics_path: str | Path,
                   features_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(has_lyrics, has_audio)`` per song of ``songs``, ``(S,)`` bool each, from the tables themselves
    (what the ranking's query segments read, whichever inputs the model loaded)."""
    ids = pa.array(songs.track_ids, pa.string())
    if songs.has_lyrics is not None:  # a partial table knows already
        has_l = songs.has_lyrics
    else:
        lyr = pq.read_table(lyrics_path, columns=["track_id"], filters=pc.field("track_id").isin(ids)).column(0)
        has_l = pc.is_in(ids, value_set=lyr.combine_chunks()).to_numpy(zero_copy_only=False)
    if songs.has_audio is not None:
        has_a = songs.has_audio
    else:
        aud = AudioShards(features_dir).read(songs.track_ids, columns=["track_id"]).column(0)
        has_a = pc.is_in(ids, value_set=aud.combine_chunks()).to_numpy(zero_copy_only=False)
    return has_l.astype(bool), np.asarray(has_a, dtype=bool)


def evaluate(spec: ModelSpec, ckpt_path: str | Path, splits_dir: str | Path, lyrics_path: str | Path,
             features_dir: str | Path, oracle_path: str | None, tcfg: TrainConfig, ecfg: EvaluateConfig,
             rcfg: RetrievalConfig, report_path: str | Path, metrics_path: str | Path, plots_dir: str | Path,
             latent_path: str | None = None) -> dict:
    device = pick_device(tcfg.device)
    model, state = load_checkpoint(ckpt_path, device)
    name, task = spec.name, spec.task
    paths = _split_paths(splits_dir, spec.split_set)
    ids = split_track_ids(*paths.values())
    # audio is loaded for every model but the lyrics-set ones: the mean-audio baseline needs it
    songs = load_songs(ids, lyrics_path if spec.uses_lyrics else None,
                       features_dir if (spec.uses_audio or spec.split_set != "lyrics") else None,
                       spec.bag_words(model.cfg), partial=spec.split_set == "catalog")
    train, val, test = (load_pairs(paths[s], songs) for s in ("train", "val", "test"))
    if not len(test) or not len(train):
        raise ValueError(f"{name}: {len(train)} training and {len(test)} test pairs in {paths['test'].parent}; "
                         f"nothing to evaluate (see the build_splits report)")
    amp = tcfg.amp and device.type == "cuda"
    log.info("evaluate %s: %d val and %d test pairs over %d songs; scoring", name, len(val), len(test), len(songs))
    preds = {s: predict(model, p, songs, tcfg.eval_batch_size, device, amp) for s, p in (("val", val), ("test", test))}
    bins = tuple(ecfg.score_bins)
    # the baselines' song matrices (fitted on the training songs) and the oracle, each built once: the pair
    # baselines and the ranking evaluation read the same ones
    fit_rows = pair_rows(train)
    song_base = {"tfidf_cosine": tfidf_rows(lyrics_path, set(songs.ids(fit_rows)), songs.track_ids)}
    if songs.audio is not None:
        song_base["audio_mean_cosine"] = audio_unit_means(songs, fit_rows)
    orc = oracle_lookup(oracle_path, test, songs) if oracle_path and Path(oracle_path).exists() else None
    result: dict = {"model": name, "set": spec.split_set, "task": task, "best_epoch": state.get("epoch"),
                    "param_counts": state.get("param_counts")}
    if task == "classification":
        for s, p in (("val", val), ("test", test)):
            result[s] = classification_metrics(p.label, preds[s])
        maj = float(train.label.mean() >= 0.5)
        base = {"majority": classification_metrics(test.label, np.full(len(test), maj))}
        tr_c, te_c = pair_cosines(song_base["tfidf_cosine"], [train, test])
        base["tfidf_cosine"] = classification_metrics(test.label, calibrate(tr_c, train.label, te_c))
        result["baselines"] = base
        # the label is score >= splits.threshold (sampled negatives: 0); the shares say how hard a constant is
        result["class_balance"] = {s: {"pairs": len(p), "similar_share": round(float(p.label.mean()), 6)}
                                   for s, p in (("train", train), ("val", val), ("test", test))}
        result["gain_over_majority_accuracy"] = round(result["test"]["accuracy"] - base["majority"]["accuracy"], 6)
        ceiling = model_ceiling(latent_path, songs, spec, train, test, tcfg.seed)
        if ceiling is not None:
            base["latent_ceiling"] = {**classification_metrics(test.label, ceiling), **ceiling_note(spec)}
            result["ceiling_share"] = ceiling_share(result["test"]["accuracy"], base["majority"]["accuracy"],
                                                    base["latent_ceiling"]["accuracy"])
    else:
        for s, p in (("val", val), ("test", test)):
            result[s] = regression_metrics(p.score, preds[s], p.src, ecfg.ndcg_k, bins)
        base = {}
        # the best constants under MSE and under MAE
        for b, value in (("train_mean", float(train.score.mean())), ("train_median", float(np.median(train.score)))):
            base[b] = regression_metrics(test.score, np.full(len(test), value), test.src, ecfg.ndcg_k, bins)
            base[b]["value"] = round(value, 6)
        tr_c, te_c = pair_cosines(song_base["tfidf_cosine"], [train, test])
        base["tfidf_cosine"] = regression_metrics(test.score, calibrate(tr_c, train.score, te_c), test.src,
                                                  ecfg.ndcg_k, bins)
        if "audio_mean_cosine" in song_base:
            tr_a, te_a = pair_cosines(song_base["audio_mean_cosine"], [train, test])
            base["audio_mean_cosine"] = regression_metrics(test.score, calibrate(tr_a, train.score, te_a),
                                                           test.src, ecfg.ndcg_k, bins)
        if orc is not None:
            m = np.isfinite(orc)
            if m.any():
                o_mae = float(np.abs(orc[m] - test.score[m]).mean())
                model_mae = float(np.abs(preds["test"][m] - test.score[m]).mean())
                base["oracle"] = {"n": int(m.sum()), "mae": round(o_mae, 6),
                                  "rmse": round(float(np.sqrt(((orc[m] - test.score[m]) ** 2).mean())), 6),
                                  "model_mae_same_pairs": round(model_mae, 6),
                                  "gap_to_oracle_mae": round(model_mae - o_mae, 6),
                                  "note": "labelled test pairs only; sampled negatives have no oracle score"}
        ceiling = model_ceiling(latent_path, songs, spec, train, test, tcfg.seed)
        if ceiling is not None:
            base["latent_ceiling"] = {**regression_metrics(test.score, ceiling, test.src, ecfg.ndcg_k, bins),
                                      **ceiling_note(spec)}
            result["ceiling_share"] = ceiling_share(result["test"]["mae"], base["train_median"]["mae"],
                                                    base["latent_ceiling"]["mae"])
        result["baselines"] = base
        cross = None
        if spec.split_set != "multimodal":
            cross = _on_multimodal_test(spec, model, splits_dir, lyrics_path, features_dir, tcfg, device, amp, ids)
        if cross is not None:
            p, pred = cross
            result["test_multimodal"] = regression_metrics(p.score, pred, p.src, ecfg.ndcg_k, bins)
        for b in ("train_mean", "train_median"):
            tm = base[b]["mae"]
            result[f"mae_improvement_over_{b}"] = round(1 - result["test"]["mae"] / tm, 6) if tm else None
    log.info("evaluate %s: pair metrics and baselines done; ranking the test catalog", name)
    hybrid = None  # the fair hybrid baseline's lyrics weight, tuned on validation ranking
    if "audio_mean_cosine" in song_base:
        hybrid = tune_hybrid(val, song_base["tfidf_cosine"], song_base["audio_mean_cosine"], ecfg)
    result["retrieval"], curve, rel = evaluate_ranking(model, songs, test, device, amp, ecfg, rcfg, song_base, orc,
                                                       tcfg.seed, state.get("calibration"), hybrid,
                                                       modality_masks(songs, lyrics_path, features_dir))
    write_json(report_path, result)
    write_json(metrics_path, compact_metrics(result, spec))
    write_plots(plots_dir, task, test, preds["test"], ecfg)
    header = list(curve[0]) if curve else ["k", "model"]
    write_csv(Path(plots_dir) / "recall_at_k.csv", header, ([r[k] for k in header] for r in curve))
    rel_header = ["bin", "predicted", "observed", "pairs"]
    write_csv(Path(plots_dir) / "reliability.csv", rel_header, ([r[k] for k in rel_header] for r in rel))
    return result


def compact_metrics(result: dict, spec: ModelSpec) -> dict:
    """What ``dvc exp show`` / ``dvc metrics diff`` compare for model ``spec`` (whose evaluation is ``result``),
    under its short prefix: test figures, the trivial baselines on the same pairs (``base_*``: train mean or
    majority; ``med_mae``: the train median, the best constant under MAE), and for the regression models
    ranking nDCG@10 (``ndcg``). The full evaluation is the report file; names are short and unique so that
    ``dvc exp show --only-changed`` fits 160 columns."""
    t, r = result["test"], result.get("retrieval", {})
    if result["task"] == "classification":  # its ranking and AUC stay in the report: the table stays narrow
        return {spec.short: {"acc": t["accuracy"], "base_acc": result["baselines"]["majority"]["accuracy"],
                             "pos": result["class_balance"]["test"]["similar_share"]}}
    out = {"mae": t["mae"], "rmse": t["rmse"], "base_mae": result["baselines"]["train_mean"]["mae"],
           "med_mae": result["baselines"]["train_median"]["mae"]}
    if "model" in r:
        out["ndcg"] = r["model"]["ndcg@10"]
    return {spec.short: out}


def write_plots(plots_dir: str | Path, task: str, test: PairData, pred: np.ndarray, ecfg: EvaluateConfig) -> None:
    d = Path(plots_dir)
    truth = targets(task, test)
    write_csv(d / "predictions.csv", ["target", "prediction"],
              zip(np.round(truth, 5).tolist(), np.round(pred, 5).tolist()))
    counts, edges = np.histogram(pred - truth, bins=ecfg.error_bins, range=(-1, 1))
    write_csv(d / "errors.csv", ["error", "count"],
              zip(np.round((edges[:-1] + edges[1:]) / 2, 4).tolist(), counts.tolist()))
    # classifier: its labels; regressors: "similar" read as score >= 0.5 on both sides
    write_csv(d / "confusion.csv", ["actual", "predicted"],
              zip((truth >= 0.5).astype(int).tolist(), (pred >= 0.5).astype(int).tolist()))


def run(params: dict, model: str) -> dict:
    """The DVC stage ``evaluate@<model>``: checkpoint + splits -> ``metrics/<model>.json`` and plot data."""
    spec = model_spec(model)  # resolved once: everything below takes the spec
    paths, raw = section(params, "paths"), section(params, "raw")
    files = paths.model_files(model)
    return evaluate(spec, files["ckpt"], paths.splits, paths.lyrics, paths.audio, raw.oracle or None,
                    section(params, "train"), section(params, "evaluate"), section(params, "retrieval"),
                    files["eval_report"], files["metrics"], files["plots"], raw.latent or None)
