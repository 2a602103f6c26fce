"""The generated blocks of README.md and docs/*.md (results tables, code map, params reference), never typed
by hand.

    python scripts/results_table.py                     print the committed run's tables (make demo does)
    python scripts/results_table.py --collect NAME ...  record finished DVC experiments NAME ... as
                                                        data/experiments/NAME.json (params changed + the
                                                        evaluation reports of their commit)
    python scripts/results_table.py --write [FILE ...]  regenerate every generated block (README.md and
                                                        docs/*.md unless files are named)
    python scripts/results_table.py --check [FILE ...]  exit 1, naming the blocks that differ

A generated block sits between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``, in any one of the
files (each block once). The committed run's tables come from ``data/reports/evaluate_<model>.json``; the
experiment tables (seed to seed, artist split, CPU threads, ablation) from the recorded experiments in
``data/experiments/`` and the committed run; the code map, the params reference and README's glance from
``scripts/doc_blocks.py``. ``tests/test_readme_results.py`` fails when a file and its sources disagree.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import doc_blocks  # noqa: E402  (a sibling script)

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("lyrics_classifier", "lyrics_regressor", "audio_siamese", "fused")
REGRESSORS = MODELS[1:]
EXPERIMENTS = ROOT / "data" / "experiments"


def fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def pct(x: float) -> str:
    """An improvement share as a signed change: 0.29 -> -29%."""
    return f"{-100 * x:+.0f}%"


def load_reports(reports: Path) -> dict[str, dict]:
    return {m: json.loads((reports / f"evaluate_{m}.json").read_text()) for m in MODELS}


def git_show(rev: str, path: str) -> str:
    """``path`` as commit ``rev`` holds it (a clone with history: CI's and a user's both are)."""
    out = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"git show {rev[:7]}:{path} failed ({out.stderr.strip()}): the experiments are compared "
                         f"with the commit they were run from, which this clone must hold")
    return out.stdout


def baseline_of(exps: list[dict]) -> tuple[str, dict[str, dict], dict]:
    """The one commit the experiments ``exps`` were run from, its evaluation reports and its params: an
    experiment is set beside its own baseline, not beside whatever the defaults became later."""
    revs = {e["baseline"] for e in exps}
    if len(revs) != 1:
        raise SystemExit(f"experiments {[e['name'] for e in exps]} come from {len(revs)} commits; re-run them "
                         f"on one (python scripts/results_table.py --collect NAME ...)")
    rev = revs.pop()
    reports = {m: json.loads(git_show(rev, f"data/reports/evaluate_{m}.json")) for m in MODELS}
    return rev, reports, yaml.safe_load(git_show(rev, "params.yaml"))


def baseline_note(rev: str, then: dict, now: dict) -> str:
    """What an experiment table is set beside, and why its baseline row differs from today's main table:
    the params that differ between the commit the experiments ran from and today's ``params.yaml``."""
    a, b = _flat(then), _flat(now)
    moved = sorted(k for k in a.keys() | b.keys()  # where outputs are written is no default of a model
                   if a.get(k, "<absent>") != b.get(k, "<absent>") and not k.startswith("paths."))
    why = (f" Its baseline row differs from today's main table because the defaults moved since: "
           f"{', '.join(f'`{k}`' for k in moved)} differ from today's `params.yaml` (and the code may differ: "
           f"`git log {rev[:7]}..`)." if moved else " Its defaults are today's.")
    return f"Against the experiments' baseline, commit `{rev[:7]}` (its defaults, on the default world).{why}\n\n"


def run_worlds(prefix: str, seed: int | None = 0) -> list[int]:
    """The worlds with a recorded harness run ``<prefix>-w<W>-s<seed>`` (any train seed when ``seed`` is
    None), in order."""
    pattern = f"{prefix}-w*-s{'*' if seed is None else seed}.json"
    return sorted({int(f.stem.removeprefix(f"{prefix}-w").rsplit("-s", 1)[0]) for f in EXPERIMENTS.glob(pattern)})


def load_experiment(name: str) -> dict:
    f = EXPERIMENTS / f"{name}.json"
    if not f.exists():
        raise SystemExit(f"{f.relative_to(ROOT)} is missing: run the experiment, then "
                         f"`python scripts/results_table.py --collect {name}`")
    return json.loads(f.read_text())


# ---------------------------------------------------------------- the committed run


def main_tables(m: dict[str, dict]) -> str:
    out = ["| model | test set | pairs | MAE | RMSE | Spearman | pair nDCG@10 | train-mean MAE | train-median MAE | "
           "TF-IDF MAE | mean-audio MAE | oracle MAE | MAE vs train mean | MAE vs train median |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k in REGRESSORS:
        d, b = m[k], m[k]["baselines"]
        t = d["test"]
        out.append(f"| {k} | {d['set']} | {t['n']} | {fmt(t['mae'])} | {fmt(t['rmse'])} | {fmt(t['spearman'])} | "
                   f"{fmt(t['ndcg@10'])} | {fmt(b['train_mean']['mae'])} | {fmt(b['train_median']['mae'])} | "
                   f"{fmt(b['tfidf_cosine']['mae'])} | {fmt(b.get('audio_mean_cosine', {}).get('mae'))} | "
                   f"{fmt(b.get('oracle', {}).get('mae'))} | {pct(d['mae_improvement_over_train_mean'])} | "
                   f"{pct(d['mae_improvement_over_train_median'])} |")
        if "test_multimodal" in d:
            t = d["test_multimodal"]
            out.append(f"| {k} | multimodal | {t['n']} | {fmt(t['mae'])} | {fmt(t['rmse'])} | {fmt(t['spearman'])} | "
                       f"{fmt(t['ndcg@10'])} | | | | | | | |")
    c = m["lyrics_classifier"]
    t, b = c["test"], c["baselines"]
    out += ["", "| classifier | pairs | accuracy | F1 | ROC-AUC | majority accuracy | TF-IDF accuracy | "
            "gain over majority |",
            "|---|---|---|---|---|---|---|---|",
            f"| lyrics_classifier | {t['n']} | {fmt(t['accuracy'])} | {fmt(t['f1'])} | {fmt(t['roc_auc'])} | "
            f"{fmt(b['majority']['accuracy'])} | {fmt(b['tfidf_cosine']['accuracy'])} | "
            f"{100 * c['gain_over_majority_accuracy']:+.1f} points |"]
    out += ["", "| ranking (test catalog) | queries | candidates | recall@10 | nDCG@10 | pair-decoder nDCG@10 | "
            "MRR | random nDCG@10 | TF-IDF nDCG@10 | mean-audio nDCG@10 | hybrid nDCG@10 (lyrics weight) | "
            "oracle nDCG@10 | served vs exhaustive R@10 (C = 20 / 100) | test ECE |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k in MODELS:
        r = m[k].get("retrieval")
        if not r or "model" not in r:
            continue
        x, b, s = r["model"], r["baselines"], r["served_vs_exhaustive_recall@10"]
        served = " / ".join(fmt(s.get(str(c))) for c in (20, 100))
        hy = b.get("hybrid")
        hybrid = f"{fmt(hy['ndcg@10'])} ({hy['lyrics_weight']})" if hy else "–"
        out.append(f"| {k} | {r['queries']} | {r['candidates_per_query']} | {fmt(x['recall@10'])} | "
                   f"{fmt(x['ndcg@10'])} | {fmt(r.get('model_pair_decoder', {}).get('ndcg@10'))} | {fmt(x['mrr'])} | "
                   f"{fmt(b['random']['ndcg@10'])} | {fmt(b['tfidf_cosine']['ndcg@10'])} | "
                   f"{fmt(b.get('audio_mean_cosine', {}).get('ndcg@10'))} | {hybrid} | "
                   f"{fmt(b.get('oracle', {}).get('ndcg@10'))} | {served} | "
                   f"{fmt(r.get('calibration', {}).get('ece'))} |")
    return "\n".join(out)


SEGMENT_NAMES = {"both": "both modalities", "audio_only": "audio only", "lyrics_only": "lyrics only"}


def segments_table(m: dict[str, dict]) -> str:
    """Ranking per query segment (what the query song has), each regressor with its baselines on the same
    queries; the fused model's catalog holds every test song with lyrics or audio."""
    out = ["| model (test catalog) | query segment | queries | nDCG@10 | TF-IDF | mean audio | hybrid | random | "
           "model - best single baseline (95% interval) | model - hybrid (95% interval) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for k in REGRESSORS:
        r = m[k].get("retrieval", {})
        best = next((n for n in r.get("bootstrap", {}) if n != "model_minus_hybrid"), None)
        for seg, s in r.get("segments", {}).items():
            def ci(name: str, s=s) -> str:
                b = s["bootstrap"].get(name)
                return f"{b['diff']:+.3f} ({b['ci95'][0]:+.3f}, {b['ci95'][1]:+.3f})" if b and b["diff"] is not None \
                    else "–"
            cell = {n: fmt(s.get(n, {}).get("ndcg@10")) if n in s else "–"
                    for n in ("model", "tfidf_cosine", "audio_mean_cosine", "hybrid", "random")}
            out.append(f"| {k} ({m[k]['set']}, {r['candidates_per_query'] + 1} songs) | {SEGMENT_NAMES[seg]} | "
                       f"{s['queries']} | {cell['model']} | {cell['tfidf_cosine']} | {cell['audio_mean_cosine']} | "
                       f"{cell['hybrid']} | {cell['random']} | {ci(best) if best else '–'} | "
                       f"{ci('model_minus_hybrid')} |")
    return "\n".join(out)


def missing_table(exp: dict) -> str:
    """``fused.model.missing`` measured three ways on one world (``data/experiments/missing_modality.json``)."""
    out = [f"On {exp['world']}: {exp['note']}.", "",
           "| `fused.model.missing` | best epochs (members) | MAE (catalog test) | MAE (multimodal test) | "
           "nDCG@10, all queries | both | audio only | lyrics only | test ECE |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, v in exp["variants"].items():
        f = v["reports"]["fused"]
        r, seg = f["retrieval"], f["retrieval"]["segments"]
        cells = " | ".join(fmt(seg.get(s, {}).get("model", {}).get("ndcg@10")) for s in SEGMENT_NAMES)
        out.append(f"| `{name}` | {', '.join(str(e) for e in v['train']['best_epoch'])} | {fmt(f['test']['mae'], 4)} | "
                   f"{fmt(f['test_multimodal']['mae'], 4)} | {fmt(r['model']['ndcg@10'])} | {cells} | "
                   f"{fmt(r['calibration']['ece'])} |")
    return "\n".join(out)


def _by_query(r: dict) -> dict[str, tuple[float, str]]:
    """A ranking block's per-query nDCG@10 and segment, by query track id."""
    pq = r.get("per_query") or {}
    return {t: (v, g) for t, v, g in zip(pq.get("track_ids", []), pq.get("ndcg@10", []), pq.get("segment", []))}


def _best_single(baselines: dict) -> tuple[str, float]:
    """The better single-modality baseline of a ranking block (TF-IDF or mean audio) and its nDCG@10."""
    singles = {n: baselines[n]["ndcg@10"] for n in ("tfidf_cosine", "audio_mean_cosine") if n in baselines}
    best = max(singles, key=singles.get)
    return best, singles[best]


def _fused_vs_audio(m: dict[str, dict], segment: str) -> tuple[list[float], list[float], dict | None]:
    """fused's and audio_siamese's nDCG@10 on the very queries of ``segment`` both rank, and the paired bootstrap
    of fused minus audio_siamese over them (None without such queries)."""
    sys.path.insert(0, str(ROOT / "src"))
    from songsim.core.ranking import paired_bootstrap

    fq, aq = _by_query(m["fused"]["retrieval"]), _by_query(m["audio_siamese"]["retrieval"])
    both = [t for t, (_, g) in fq.items() if g == segment and t in aq]
    f_v, a_v = [fq[t][0] for t in both], [aq[t][0] for t in both]
    return f_v, a_v, (paired_bootstrap(f_v, a_v, seed=0) if both else None)


def medium_table(exp: dict) -> str:
    """A real-shaped world's run (``scripts/collect_world.py``): each regressor's pair and ranking figures and
    how much of the catalog it embeds, then fused's ranking by query segment beside audio_siamese on the
    very same queries (both rank every song with audio there), with a paired bootstrap of the difference."""
    m, emb = exp["reports"], exp["embed"]
    changed = ", ".join(f"`{k}: {v}`" for k, v in exp["params"].items())
    out = [f"Run from commit `{exp.get('baseline', exp['rev'])[:7]}` with {changed} (everything else as "
           "committed)."
           + (f" {exp['note']}" if exp.get("note") else ""), "",
           "| model (test set) | test pairs | MAE vs train median | queries | catalog | nDCG@10 | "
           "best single baseline | hybrid | served vs exhaustive R@10 (C = 20) | test ECE | songs embedded |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for k in REGRESSORS:
        d, r = m[k], m[k]["retrieval"]
        b = r["baselines"]
        best, best_ndcg = _best_single(b)
        e = emb[k]
        out.append(f"| {k} ({d['set']}) | {d['test']['n']:,} | {pct(d['mae_improvement_over_train_median'])} | "
                   f"{r['queries']:,} | {r['candidates_per_query'] + 1:,} | {fmt(r['model']['ndcg@10'])} | "
                   f"{fmt(best_ndcg)} ({best}) | {fmt(b.get('hybrid', {}).get('ndcg@10'))} | "
                   f"{fmt(r['served_vs_exhaustive_recall@10'].get('20'))} | {fmt(r['calibration']['ece'])} | "
                   f"{e['kept']:,} of {e['read']:,} |")
    fus = m["fused"]["retrieval"]
    out += ["", "| query segment | fused's queries | fused | mean audio | TF-IDF | hybrid | queries audio_siamese also "
            "ranks | fused / audio_siamese there | fused - audio_siamese (95% interval) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for seg, s in fus.get("segments", {}).items():
        f_v, a_v, bs = _fused_vs_audio(m, seg)
        ci = f"{bs['diff']:+.3f} ({bs['ci95'][0]:+.3f}, {bs['ci95'][1]:+.3f})" if bs else "–"
        pair = f"{fmt(sum(f_v) / len(f_v))} / {fmt(sum(a_v) / len(a_v))}" if bs else "–"
        base = " | ".join(fmt(s.get(n, {}).get("ndcg@10")) for n in ("audio_mean_cosine", "tfidf_cosine", "hybrid"))
        out.append(f"| {SEGMENT_NAMES[seg]} | {s['queries']:,} | {fmt(s['model']['ndcg@10'])} | {base} | "
                   f"{len(f_v):,} | {pair} | {ci} |")
    return "\n".join(out)


def medium_harness_table(runs: list[dict]) -> str:
    """Real-shaped medium worlds (``make robustness-medium``, and ``scripts/collect_world.py`` runs): one row a
    world, fused's ranking over its whole test catalog against the baselines and, on the audio-only queries
    (three in four there), against ``audio_siamese`` on the very same queries (paired bootstrap)."""
    out = ["| world | commit | queries / catalog | fused nDCG@10 | best single baseline | fused / best single | "
           "fused / hybrid | fused - best single, 95% lower bound | audio-only queries: fused - audio_siamese "
           "(95% interval) | fused / mean audio there | served vs exhaustive R@10 (C = 20) | fused test ECE | "
           "fused embeds | training time (4 models) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    committed_seed = yaml.safe_load((ROOT / "params.yaml").read_text())["synth"]["seed"]
    for exp in runs:
        m = exp["reports"]
        fus = m["fused"]["retrieval"]
        b = fus["baselines"]
        best, best_ndcg = _best_single(b)
        low = fus.get("bootstrap", {}).get(f"model_minus_{best}", {}).get("ci95", [None])[0]
        both, _, bs = _fused_vs_audio(m, "audio_only")
        seg = fus.get("segments", {}).get("audio_only", {})
        vs_mean = (seg["model"]["ndcg@10"] / seg["audio_mean_cosine"]["ndcg@10"]
                   if seg and seg["audio_mean_cosine"]["ndcg@10"] else None)
        e = exp["embed"]["fused"]
        world = exp["params"].get("synth.seed", committed_seed)  # a run of the committed seed does not change it
        secs = sum(exp["train"][k]["seconds"] for k in MODELS) if "train" in exp else None
        out.append(
            f"| {world} | `{exp.get('baseline', exp['rev'])[:7]}` | "
            f"{fus['queries']:,} / {fus['candidates_per_query'] + 1:,} | "
            f"{fmt(fus['model']['ndcg@10'])} | {fmt(best_ndcg)} ({best}) | "
            f"{fus['model']['ndcg@10'] / best_ndcg:.2f}x | "
            f"{fus['model']['ndcg@10'] / b['hybrid']['ndcg@10']:.2f}x | "
            f"{'–' if low is None else f'{low:+.3f}'} | "
            + (f"{bs['diff']:+.3f} ({bs['ci95'][0]:+.3f}, {bs['ci95'][1]:+.3f}) on {len(both):,}" if bs else "–")
            + f" | {'–' if vs_mean is None else f'{vs_mean:.2f}x'} | "
            f"{fmt(fus['served_vs_exhaustive_recall@10'].get('20'))} | {fmt(fus['calibration']['ece'])} | "
            f"{e['kept']:,} of {e['read']:,} | {'–' if secs is None else f'{secs / 60:.0f} min'} |")
    return "\n".join(out)


def warm_start_table(sets: tuple[tuple[str, str], ...]) -> str:
    """fused's audio tower and ranking mixture, setting by setting on the real-shaped medium worlds (runs
    ``<prefix>-w<W>-s0``): fused's nDCG@10 over the whole test catalog, and beside ``audio_siamese`` on the very
    queries of each segment (paired bootstrap of the difference), with fused's pair MAE."""
    out = ["| world | fused's audio tower, ranking mixture | fused nDCG@10 | fused / best single baseline | "
           "both modalities: fused - audio_siamese (95% interval) | audio only: fused - audio_siamese (95% "
           "interval) | lyrics share of the mixture | fused MAE |", "|---|---|---|---|---|---|---|---|"]
    for w in sorted({w for p, _ in sets for w in run_worlds(p)}):
        for prefix, label in sets:
            if not (EXPERIMENTS / f"{prefix}-w{w}-s0.json").exists():
                continue
            exp = load_experiment(f"{prefix}-w{w}-s0")
            m = exp["reports"]
            fus = m["fused"]["retrieval"]
            _, best_ndcg = _best_single(fus["baselines"])
            cells = []
            for seg in ("both", "audio_only"):
                _, _, bs = _fused_vs_audio(m, seg)
                cells.append(f"{bs['diff']:+.3f} ({bs['ci95'][0]:+.3f}, {bs['ci95'][1]:+.3f})" if bs else "–")
            share = sum(fus["rank_weights"][0::2])
            out.append(f"| {w} | {label} (`{prefix}`) | {fmt(fus['model']['ndcg@10'])} | "
                       f"{fus['model']['ndcg@10'] / best_ndcg:.2f}x | {' | '.join(cells)} | {share:.2f} | "
                       f"{m['fused']['test']['mae']:.4f} |")
    return "\n".join(out)


# train.min_epoch_steps on the real-shaped medium worlds: the harness's runs before it and since
STEPS_SETS = (("realshape", "one pass an epoch"), ("realsteps", "at least 16 steps an epoch"))

# the lyrics regressor's epoch cap on the real-shaped medium worlds: the harness's runs before (cap 4, made on
# the machine of 2026-12-05's first runs) and since (cap 8, on the next session's machine: audio_siamese and
# fused did not change, so their two columns differ by the CPU alone)
EPOCH_CAP_SETS = (("realsteps", "lyrics cap 4, first machine"), ("realep8", "lyrics cap 8, second machine"))

# the training recipe at catalog scale against the harness's (make robustness-medium-tenth), same worlds and seed
RECIPE_SETS = (("realshape", "in-batch softmax, best epoch by validation pair metric"),
               ("catscale", "+1,024 sampled negatives, log-Q, hits masked, best epoch by validation nDCG@10"))


def recipe_table(sets: tuple[tuple[str, str], ...]) -> str:
    """Two training recipes on the same world and train seed (runs ``<prefix>-w<W>-s0``): per model, test-
    catalog nDCG@10 under each, the paired bootstrap of the second minus the first over the very queries
    both rank, pair MAE (the classifier: accuracy over the majority class, points) and training time."""
    sys.path.insert(0, str(ROOT / "src"))
    from songsim.core.ranking import paired_bootstrap

    (before, _), (after, _) = sets
    out = [f"Recipes: `{before}`: {sets[0][1]}; `{after}`: {sets[1][1]}.", "",
           f"| world | model | nDCG@10, `{before}` / `{after}` | difference (95% interval) | pair MAE, `{before}` / "
           f"`{after}` | training time, `{before}` / `{after}` |", "|---|---|---|---|---|---|"]
    for w in run_worlds(after):
        if not (EXPERIMENTS / f"{before}-w{w}-s0.json").exists():
            continue
        runs = [load_experiment(f"{p}-w{w}-s0") for p in (before, after)]
        for m in (*REGRESSORS, "lyrics_classifier"):
            reps, secs = [r["reports"][m] for r in runs], [r["train"][m]["seconds"] for r in runs]
            time_cell = f"{secs[0] / 60:.1f} / {secs[1] / 60:.1f} min"
            if m == "lyrics_classifier":  # no ranking of its own: its accuracy
                pts = " / ".join(f"{100 * r['gain_over_majority_accuracy']:+.1f}" for r in reps)
                out.append(f"| {w} | {m} | – | – | accuracy over the majority: {pts} points | {time_cell} |")
                continue
            q = [_by_query(r["retrieval"]) for r in reps]
            common = [t for t in q[0] if t in q[1]]
            bs = paired_bootstrap([q[1][t][0] for t in common], [q[0][t][0] for t in common], seed=0)
            mae_cell = " / ".join(f"{r['test']['mae']:.4f}" for r in reps)
            out.append(f"| {w} | {m} | {' / '.join(fmt(r['retrieval']['model']['ndcg@10']) for r in reps)} | "
                       f"{bs['diff']:+.3f} ({bs['ci95'][0]:+.3f}, {bs['ci95'][1]:+.3f}) on {len(common):,} | "
                       f"{mae_cell} | {time_cell} |")
    return "\n".join(out)


def learning_curve_table(path: Path) -> str:
    """``plots/learning_curve.csv`` (``scripts/learning_curve.py``): each regression model's training pairs,
    test MAE and test-catalog nDCG@10 at each share of the training pairs kept."""
    import csv

    rows = list(csv.DictReader(path.open()))
    out = ["| `splits.data_fraction` | " + " | ".join(f"{m}: pairs / MAE / nDCG@10" for m in REGRESSORS) + " |",
           "|---|" + "---|" * len(REGRESSORS)]
    for r in rows:
        out.append(f"| {float(r['data_fraction']):g} | " + " | ".join(
            f"{int(r[f'{m}_train_pairs']):,} / {float(r[f'{m}_mae']):.4f} / {float(r[f'{m}_ndcg']):.3f}"
            for m in REGRESSORS) + " |")
    return "\n".join(out)


def mm_mae(d: dict) -> float:
    """A model's MAE on the multimodal test pairs, where the four models compare: its ``test_multimodal``
    block, or its own test pairs when they are those (runs before audio and fused got their own sets)."""
    return d.get("test_multimodal", d["test"])["mae"]


def claims(m: dict[str, dict]) -> str:
    """The committed run's headline comparisons, one line each, from the same reports."""
    lyr, aud, fus, clf = (m[k] for k in ("lyrics_regressor", "audio_siamese", "fused", "lyrics_classifier"))
    mm = mm_mae(lyr)
    best_single = min(mm_mae(aud), mm)
    lines = [f"- MAE against the train median on each model's test pairs: lyrics regressor "
             f"{pct(lyr['mae_improvement_over_train_median'])}, audio {pct(aud['mae_improvement_over_train_median'])}, "
             f"fused {pct(fus['mae_improvement_over_train_median'])}.",
             f"- On the same multimodal pairs: fused MAE {mm_mae(fus):.4f}, audio {mm_mae(aud):.4f}, "
             f"lyrics {mm:.4f} (fused {_lead(mm_mae(fus), best_single)} the better single-modality model).",
             f"- Classifier: {100 * clf['gain_over_majority_accuracy']:+.1f} accuracy points over the majority class.",
             f"- Ranking the test catalog, nDCG@10: fused {fus['retrieval']['model']['ndcg@10']:.3f}, audio "
             f"{aud['retrieval']['model']['ndcg@10']:.3f}, lyrics {lyr['retrieval']['model']['ndcg@10']:.3f}, "
             f"against TF-IDF {fus['retrieval']['baselines']['tfidf_cosine']['ndcg@10']:.3f} and mean audio "
             f"{fus['retrieval']['baselines']['audio_mean_cosine']['ndcg@10']:.3f}."]
    boot = fus["retrieval"].get("bootstrap", {})
    if boot:
        names = {"model_minus_tfidf_cosine": "TF-IDF", "model_minus_audio_mean_cosine": "mean audio",
                 "model_minus_hybrid": "the tuned hybrid"}
        lines.append("- Paired bootstrap over the test queries, fused nDCG@10 minus " + "; minus ".join(
            f"{names[k]}: {b['diff']:+.3f}, 95% interval [{b['ci95'][0]:.3f}, {b['ci95'][1]:.3f}]"
            for k, b in boot.items()) + ".")
    if all("latent_ceiling" in m[k]["baselines"] for k in (*REGRESSORS, "lyrics_classifier")):
        def ceil(r: dict) -> str:
            c, med = r["baselines"]["latent_ceiling"]["mae"], r["baselines"]["train_median"]["mae"]
            return f"{pct(1 - c / med)} (model at {r['ceiling_share']:.2f} of it)"
        c = clf["baselines"]["latent_ceiling"]["accuracy"] - clf["baselines"]["majority"]["accuracy"]
        lines.append(f"- Modality ceilings (a perfect reader of each model's inputs on this world), MAE against the "
                     f"train median: lyrics {ceil(lyr)}, audio {ceil(aud)}, fused {ceil(fus)}; classifier "
                     f"{100 * c:+.1f} points over the majority (model at {clf['ceiling_share']:.2f} of it).")
    lo, hi = ([m[k]["test"]["mae_by_score_bin"][b] for k in REGRESSORS] for b in ("0.0-0.2", "0.8-1.0"))
    share = [b["n"] / m[k]["test"]["n"] for b, k in zip(hi, REGRESSORS)]
    lines.append(f"- Errors by true score: MAE {min(b['mae'] for b in lo):.3f}–{max(b['mae'] for b in lo):.3f} on "
                 f"pairs scored below 0.2 (most test pairs), {min(b['mae'] for b in hi):.2f}–"
                 f"{max(b['mae'] for b in hi):.2f} on pairs scored 0.8–1.0 ({_span(share)} of test pairs, mostly "
                 f"an artist's own songs).")
    return "\n".join(lines)


def _lead(mae: float, other: float) -> str:
    """'2.9% below' / '0.4% above': where an MAE stands against another one."""
    lead = 100 * (1 - mae / other)
    return f"{abs(lead):.1f}% {'below' if lead >= 0 else 'above'}"


def _span(shares: list[float]) -> str:
    lo, hi = round(100 * min(shares)), round(100 * max(shares))
    return f"{lo}%" if lo == hi else f"{lo}–{hi}%"


# ---------------------------------------------------------------- recorded experiments


def seed_table(base: dict[str, dict], runs: list[tuple[str, dict[str, dict]]]) -> str:
    out = ["| train.seed | classifier accuracy | lyrics_regressor MAE (lyrics / multimodal pairs) | "
           "audio_siamese MAE | "
           "fused MAE | fused lead over the better single model (same pairs) | nDCG@10 lyrics / audio / fused |",
           "|---|---|---|---|---|---|---|"]
    for label, m in [("0 (baseline)", base), *runs]:
        clf, lyr, aud, fus = (m[k] for k in MODELS)
        single = min(mm_mae(aud), mm_mae(lyr))
        out.append(f"| {label} | {clf['test']['accuracy']:.3f} ({100 * clf['gain_over_majority_accuracy']:+.1f}) | "
                   f"{lyr['test']['mae']:.4f} ({pct(lyr['mae_improvement_over_train_median'])}) / "
                   f"{mm_mae(lyr):.4f} | {aud['test']['mae']:.4f} "
                   f"({pct(aud['mae_improvement_over_train_median'])}) | {fus['test']['mae']:.4f} "
                   f"({pct(fus['mae_improvement_over_train_median'])}) | "
                   f"{100 * (1 - mm_mae(fus) / single):+.1f}% | "
                   + " / ".join(f"{m[k]['retrieval']['model']['ndcg@10']:.3f}" for k in REGRESSORS) + " |")
    return "\n".join(out)


def split_table(track: dict[str, dict], artist: dict[str, dict]) -> str:
    out = ["| model | split | test pairs | MAE | train-median MAE | vs median | ranking queries | recall@10 | "
           "nDCG@10 | TF-IDF nDCG@10 | mean-audio nDCG@10 | random nDCG@10 |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k in REGRESSORS:
        for label, m in (("track", track), ("artist", artist)):
            d = m[k]
            r, b = d["retrieval"], d["retrieval"]["baselines"]
            out.append(f"| {k} | {label} | {d['test']['n']:,} | {fmt(d['test']['mae'])} | "
                       f"{fmt(d['baselines']['train_median']['mae'])} | "
                       f"{pct(d['mae_improvement_over_train_median'])} | "
                       f"{r['queries']} | {fmt(r['model']['recall@10'])} | {fmt(r['model']['ndcg@10'])} | "
                       f"{fmt(b['tfidf_cosine']['ndcg@10'])} | {fmt(b.get('audio_mean_cosine', {}).get('ndcg@10'))} | "
                       f"{fmt(b['random']['ndcg@10'])} |")
    return "\n".join(out)


def threads_table(base: dict[str, dict], one: dict[str, dict]) -> str:
    out = ["| torch CPU threads | classifier accuracy | lyrics_regressor MAE | audio_siamese MAE | fused MAE |",
           "|---|---|---|---|---|"]
    for label, m in (("2 (baseline: `train.threads: 0`, auto)", base), ("1 (`-S train.threads=1`)", one)):
        out.append(f"| {label} | {m['lyrics_classifier']['test']['accuracy']:.4f} | "
                   + " | ".join(f"{m[k]['test']['mae']:.4f}" for k in REGRESSORS) + " |")
    return "\n".join(out)


def ablation_table(base: dict[str, dict], base_params: dict, runs: list[tuple[str, dict]]) -> str:
    keys = ["splits.data_fraction", "lyrics_regressor.model.encoder.kind",
            "lyrics_regressor.model.encoder.freeze_embeddings", "lyrics_regressor.model.dropout",
            "lyrics_regressor.model.l2"]
    out = ["| experiment | lyr.mae | lyr.rmse | lyr.ndcg | " + " | ".join(k.split(".")[-1] for k in keys) + " |",
           "|---" * (4 + len(keys)) + "|"]
    for label, exp in [("baseline", {"reports": base, "params": {}}), *runs]:
        d = exp["reports"]["lyrics_regressor"]
        vals = [exp["params"].get(k, _get(base_params, k)) for k in keys]
        out.append(f"| {label} | {d['test']['mae']:.4f} | {d['test']['rmse']:.4f} | "
                   f"{d['retrieval']['model']['ndcg@10']:.3f} | " + " | ".join(str(v) for v in vals) + " |")
    return "\n".join(out)


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d[part]
    return d


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def collect(names: list[str]) -> None:
    """Record finished experiments: their changed params and the evaluation reports of their commit."""
    # a name run again (on a later baseline) is recorded from its newest run
    refs = subprocess.run(["git", "for-each-ref", "refs/exps", "--sort=committerdate",
                           "--format=%(refname) %(objectname)"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.split("\n")
    by_name = {r.split()[0].rsplit("/", 1)[1]: r.split()[1] for r in refs if r.strip()}

    EXPERIMENTS.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name not in by_name:
            raise SystemExit(f"no finished experiment called {name!r} (dvc exp show lists them)")
        rev = by_name[name]
        new, old = (_flat(yaml.safe_load(git_show(r, "params.yaml"))) for r in (rev, f"{rev}^"))
        baseline = subprocess.run(["git", "rev-parse", f"{rev}^"], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout.strip()
        rec = {"name": name, "rev": rev, "baseline": baseline,
               "params": {k: v for k, v in new.items() if old.get(k) != v},
               "reports": {m: json.loads(git_show(rev, f"data/reports/evaluate_{m}.json")) for m in MODELS},
               "train": {m: json.loads(git_show(rev, f"data/reports/train_{m}.json")) for m in MODELS},
               "embed": {m: json.loads(git_show(rev, f"data/reports/embed_{m}.json")) for m in REGRESSORS}}
        (EXPERIMENTS / f"{name}.json").write_text(json.dumps(rec, indent=1) + "\n")
        print(f"recorded {name} ({rev[:7]}): {rec['params']}")


def encoders_table(rows: list[tuple[str, dict[str, dict]]]) -> str:
    """The lyrics encoders side by side (committed run first): each row's experiment changes only the three
    lyrics encoders (kind, input)."""
    out = ["| lyrics encoders | classifier accuracy (vs majority) | lyrics_regressor MAE (vs train median) | "
           "lyrics nDCG@10 (TF-IDF) | fused MAE (vs train median) | fused nDCG@10 | parameters (classifier / "
           "lyrics_regressor / fused) |", "|---|---|---|---|---|---|---|"]
    for label, m in rows:
        clf, lyr, fus = m["lyrics_classifier"], m["lyrics_regressor"], m["fused"]
        out.append(f"| {label} | {clf['test']['accuracy']:.3f} ({100 * clf['gain_over_majority_accuracy']:+.1f}) | "
                   f"{lyr['test']['mae']:.4f} ({pct(lyr['mae_improvement_over_train_median'])}) | "
                   f"{lyr['retrieval']['model']['ndcg@10']:.3f} "
                   f"({lyr['retrieval']['baselines']['tfidf_cosine']['ndcg@10']:.3f}) | {fus['test']['mae']:.4f} "
                   f"({pct(fus['mae_improvement_over_train_median'])}) | {fus['retrieval']['model']['ndcg@10']:.3f} | "
                   f"{clf['param_counts']['total']:,} / {lyr['param_counts']['total']:,} / "
                   f"{fus['param_counts']['total']:,} |")
    return "\n".join(out)


# "b1024": the development harness's runs before the lyrics regressor's batch went from 1024 to 512, the
# defaults these settings were compared against (data/experiments/b1024-*.json)
RANK_SETS = (("b1024", "1 (the defaults then)"), ("pair", "0: pair loss only"),  # prefix, train.rank_weight
             ("rankw3", "3"))
# the output's start and batch-norm recalibration (with the longer epochs they need), against the same runs
START_SETS = (("b1024", "the defaults then"), ("prior", "prior start"),
              ("priorbn", "prior start, BN recalibration, longer"))


# the lyrics encoders with every word, then with English function words left out (encoder.stopwords)
STOP_SETS = (("stopnone", "every word"), ("stopeng", "function words left out"))
# fused's audio tower trained with it (the defaults before 2026-12-05) against started from audio_siamese's and
# kept frozen: on the development worlds (stopeng: the previous defaults) and the real-shaped medium worlds
WARM_SETS = (("stopeng", "trained in fused, learned mixture"), ("devmix", "audio_siamese's, mixture chosen on val"))
WARM_MEDIUM_SETS = (("shaped", "trained in fused, learned mixture"), ("warm", "audio_siamese's, learned mixture"),
                    ("realshape", "audio_siamese's, mixture chosen on val"))
# the held-out worlds under the defaults of 2026-12-03 and on today's code (make robustness-fresh)
FRESH_SETS = (("fresh", "defaults of 2026-12-03"), ("fresh6", "today's defaults"))
# make robustness-medium's runs on today's code: the real density, the real datasets' settings, every other param
# as committed (realdense2, since 2026-12-07: the calibration per kind of pair, the dropouts of 0.1; realdense
# before, MEDIUM_BEFORE; before that, a tenth of the pairs under the demo's defaults, make
# robustness-medium-tenth: realstyle; realep8, since the lyrics regressor's epoch cap of 8; realsteps, since
# train.min_epoch_steps; realshape, since fused starts from audio_siamese; shaped before that)
MEDIUM_PREFIX = "realdense2"
MEDIUM_BEFORE = "realdense"  # the same worlds and settings at 2026-12-06's code and dropouts (Makefile MEDIUM_DROPOUT)
MEDIUM_SETS = ((MEDIUM_BEFORE, "2026-12-06"), (MEDIUM_PREFIX, "today"))
MEDIUM_SHARES = (("medium, real shape and density", "reader_reference_dense.json", MEDIUM_BEFORE, MEDIUM_PREFIX),)
MEDIUM_TENTH = "realstyle"  # make robustness-medium-tenth: the same worlds, a tenth of the pairs, the demo's defaults


def paired_change(runs: dict[str, dict[str, dict[str, dict]]], before: str, after: str) -> str:
    """One line per model: the mean change from setting ``before`` to ``after`` over the worlds that ran
    both, with its standard deviation and its range (nDCG@10 and MAE; the classifier's accuracy)."""
    worlds = [w for w, r in runs.items() if before in r and after in r]
    if len(worlds) < 2:
        return ""
    rows = [("lyrics_classifier", "accuracy", lambda r: r["test"]["accuracy"])]
    for m in ("lyrics_regressor", "audio_siamese", "fused"):
        rows += [(m, "nDCG@10", lambda r: r["retrieval"]["model"]["ndcg@10"]), (m, "MAE", lambda r: r["test"]["mae"])]
    out = [f"| model | metric | mean change over {len(worlds)} worlds (sd) | worst / best world |", "|---|---|---|---|"]
    for m, metric, get in rows:
        d = [get(runs[w][after][m]) - get(runs[w][before][m]) for w in worlds]
        worst, best = (max(d), min(d)) if metric == "MAE" else (min(d), max(d))
        out.append(f"| {m} | {metric} | {statistics.mean(d):+.4f} ({statistics.stdev(d):.4f}) | "
                   f"{worst:+.4f} / {best:+.4f} |")
    return "\n".join(out)


def change_block(runs: dict[str, dict[str, dict[str, dict]]], sets: tuple[tuple[str, str], ...], what: str,
                 classifier: bool = False) -> str:
    """Two settings on the same worlds: the mean change from the first to the second (:func:`paired_change`),
    then each world's figures under both (:func:`settings_table`)."""
    return (paired_change(runs, *(p for p, _ in sets)) + "\n\n"
            + settings_table(runs, sets, what, classifier=classifier))


def settings_table(runs: dict[str, dict[str, dict[str, dict]]], sets: tuple[tuple[str, str], ...], what: str,
                   classifier: bool = False) -> str:
    """Settings compared on the same worlds and train seed: ``runs[world][prefix]`` are the evaluation
    reports of run ``<prefix>-w<world>-s0``. Per world and regression model: pair MAE vs the train median,
    and nDCG@10 over the model's own baseline, one column per setting (with ``classifier``, also the
    classifier's accuracy gain over the majority class, in points)."""
    own = {"lyrics_regressor": ("tfidf_cosine",), "audio_siamese": ("audio_mean_cosine",),
           "fused": ("tfidf_cosine", "audio_mean_cosine")}
    sets = [(p, label) for p, label in sets if any(p in r for r in runs.values())]
    head = f"{what}{' / '.join(label for _, label in sets)}"
    out = [f"| world | model | MAE vs train median, {head} | nDCG@10 / its baseline, {head} |",
           "|---|---|---|---|"]
    for world, by_set in runs.items():
        if classifier:
            gain = [f"{100 * by_set[p]['lyrics_classifier']['gain_over_majority_accuracy']:+.1f} points"
                    if p in by_set else "–" for p, _ in sets]
            out.append(f"| {world} | lyrics_classifier (accuracy over majority) | {' / '.join(gain)} | |")
        for m, base in own.items():
            mae, rank = [], []
            for p, _ in sets:
                r = by_set.get(p)
                if r is None:
                    mae.append("–")
                    rank.append("–")
                    continue
                ret = r[m]["retrieval"]
                mae.append(f"{-100 * r[m]['mae_improvement_over_train_median']:+.1f}%")
                rank.append(f"{ret['model']['ndcg@10'] / max(ret['baselines'][b]['ndcg@10'] for b in base):.2f}x")
            out.append(f"| {world} | {m} | {' / '.join(mae)} | {' / '.join(rank)} |")
    return "\n".join(out)


def set_runs(sets: tuple[tuple[str, str], ...]) -> dict[str, dict[str, dict[str, dict]]]:
    """``{world: {prefix: reports}}`` for the worlds with a train-seed-0 run of a setting other than the first."""
    worlds = sorted({w for p, _ in sets[1:] for w in run_worlds(p)})
    return {str(w): {p: load_experiment(f"{p}-w{w}-s0")["reports"] for p, _ in sets
                     if (EXPERIMENTS / f"{p}-w{w}-s0.json").exists()} for w in worlds}


# the harness's runs before ensembles (optim.members: 1 everywhere), renamed when the defaults changed
ENSEMBLE_SETS = (("single", "one model (train seed 0)"), ("ens", "ensemble of 2 (train seeds 0, 1)"))
PREFIX_PAIRS = (("single", "rob"), ("freshsingle", "fresh"))  # (before, after): development, held-out worlds


def ensemble_runs() -> dict[str, dict[str, dict[str, dict]]]:
    """``{world: {"single": reports, "ens": reports}}``: every world whose train-seed-0 run exists both with one
    model per regression model (the previous defaults) and with the ensembles of 2 (the defaults since)."""
    out = {}
    for before, after in PREFIX_PAIRS:
        for world in run_worlds(before):
            if (EXPERIMENTS / f"{after}-w{world}-s0.json").exists():
                out[str(world)] = {"single": load_experiment(f"{before}-w{world}-s0")["reports"],
                                   "ens": load_experiment(f"{after}-w{world}-s0")["reports"]}
    return out


# the harnesses' runs before and since stopwords: style became the default (2026-12-06): (before, after) per
# harness (development, held out, unseen), the same worlds and train seed
STYLE_PAIRS = (("dev8", "dev9"), ("fresh2", "fresh3"), ("unseen2", "unseen3"))
STYLE_MEDIUM_PAIRS = (("realep8", MEDIUM_TENTH),)  # the same, medium worlds (apart: ids repeat)
STYLE_SETS = (("english", "`stopwords: english`"), ("style", "`stopwords: style`"))
# the audio model's artist loss (audio_siamese.model.artist_weight: 1.0) against the defaults (0), per harness
# (mates-w<W>-s0 beside dev9-w<W>-s0, ...; fused starts its audio tower from the audio model); the medium worlds
# apart, as their world ids repeat
ART_OFF, ART_ON = "defaults", "`artist_weight: 1.0`"
ARTIST_SETS = (("dev9", ART_OFF), ("mates", ART_ON))  # the development worlds
ARTIST_UNSEEN_SETS = (("unseen3", ART_OFF), ("matesunseen", ART_ON))  # the unseen worlds
ARTIST_FRESH_SETS = (("fresh3", ART_OFF), ("matesfresh", ART_ON))  # the held-out worlds
ARTIST_MEDIUM_SETS = ((MEDIUM_TENTH, ART_OFF), ("matesmedium", ART_ON))  # medium, real shape
# each harness's worlds: (label, its readers, the defaults' runs, the runs with artist mates)
ARTIST_HARNESSES = (("development", "reader_reference_dev.json", "dev9", "mates"),
                    ("held out", "reader_reference_fresh.json", "fresh3", "matesfresh"),
                    ("unseen", "reader_reference_unseen.json", "unseen3", "matesunseen"),
                    ("medium, a tenth of the pairs", "reader_reference_medium.json", MEDIUM_TENTH, "matesmedium"))


def share_table(harnesses: tuple[tuple[str, str, str, str], ...], off: str, on: str,
                model: str = "audio_siamese") -> str:
    """A regression model's share of its world's best reader gain (MAE below the train median, of the best of its
    readers) under two settings (``off``, ``on``), on every world of ``harnesses`` ((label, its readers, the runs
    of ``off``, those of ``on``)) that ran both (floored to 2 decimals), and how many reach READER_SHARE."""
    out = [f"| harness | world | {model}'s share of its reader: {off} | {on} |",
           "|---|---|---|---|"]
    held = {"off": 0, "on": 0}
    n = 0
    for label, readers, before, after in harnesses:
        if not (EXPERIMENTS / readers).exists():
            continue
        worlds = json.loads((EXPERIMENTS / readers).read_text())["worlds"]
        for w in run_worlds(after):
            if str(w) not in worlds or not (EXPERIMENTS / f"{before}-w{w}-s0.json").exists():
                continue
            best = best_reader_gain(worlds[str(w)], model)
            gains = [100 * load_experiment(f"{p}-w{w}-s0")["reports"][model][
                "mae_improvement_over_train_median"] for p in (before, after)]
            n += 1
            for k, g in zip(held, gains):
                held[k] += reaches_reader(g, best)
            out.append(f"| {label} | {w} | " + " | ".join(f"{math.floor(100 * g / best) / 100:.2f}" for g in gains)
                       + " |")  # floored, as reader_counts names its misses: a miss never reads as 0.90
    out.append(f"| **at >= {READER_SHARE:.0%}** | {n} worlds | {held['off']} of {n} | {held['on']} of {n} |")
    return "\n".join(out)


# the audio encoder of today's defaults (kind cnn_stats, dropout 0.1 in the encoder and the audio decoder; fused's
# tower the same) against the CNN with dropout 0.3 before it (2026-12-07): (before, after) per harness
AUDIO_ENC_PAIRS = (("dev9", "dev10"), ("fresh3", "fresh4"), ("unseen3", "unseen4"))
AUDIO_ENC_SETS = (("cnn", "`kind: cnn`, dropout 0.3"), ("cnn_stats", "`kind: cnn_stats`, dropout 0.1"))
AUDIO_ENC_HARNESSES = (("development", "reader_reference_dev.json", "dev9", "dev10"),
                       ("held out", "reader_reference_fresh.json", "fresh3", "fresh4"),
                       ("unseen", "reader_reference_unseen.json", "unseen3", "unseen4"))


# fused's calibration: one isotonic map over every pair against one per kind of pair (the blocks both songs have),
# 2026-12-07: (before, after) per harness, the same code otherwise (so the same models, the same rank scores)
CAL_KIND_HARNESSES = (("development", "dev10", "dev11"), ("held out", "fresh4", "fresh5"),
                      ("unseen", "unseen4", "unseen5"))
CAL_KIND_NAMES = {"15": "both", "10": "audio", "5": "lyrics", "0": "none"}  # fused, 2 members: bit b = block b

# the lyrics regressor's dropout 0.1 in its encoder and its pair decoder against 0.2 / 0.3 before (2026-12-07):
# (before, after) per harness, the same code otherwise (only the lyrics regressor's figures may move)
LYR_DROP_PAIRS = (("dev11", "dev12"), ("fresh5", "fresh6"), ("unseen5", "unseen6"))
LYR_DROP_SETS = (("drop23", "dropout 0.2 / 0.3"), ("drop11", "dropout 0.1 / 0.1"))
LYR_DROP_HARNESSES = (("development", "reader_reference_dev.json", "dev11", "dev12"),
                      ("held out", "reader_reference_fresh.json", "fresh5", "fresh6"),
                      ("unseen", "reader_reference_unseen.json", "unseen5", "unseen6"))


def calibration_kinds_table() -> str:
    """Per world: fused's test ECE with one pooled map and with a map per kind of pair, each kind's ECE after (its
    bit mask named where it is fused's two-member layout: lyrics and audio blocks alternate), and whether the
    ranking is unchanged (nDCG@10 to the last digit: the rank scores are the same)."""
    out = ["| harness | world | ECE, one map | ECE, a map per kind | by kind (both / audio / lyrics / none; "
           "* the pooled map) | fused nDCG@10 unchanged |", "|---|---|---|---|---|---|"]
    worst, n, held = 0.0, 0, {"before": 0, "after": 0}
    for label, before, after in CAL_KIND_HARNESSES:
        for w in run_worlds(before):
            if not (EXPERIMENTS / f"{after}-w{w}-s0.json").exists():
                continue
            a = load_experiment(f"{before}-w{w}-s0")["reports"]["fused"]["retrieval"]
            b = load_experiment(f"{after}-w{w}-s0")["reports"]["fused"]["retrieval"]
            kinds = b["calibration"].get("by_kind", {})
            parts = [f"{kinds[k]['ece']:.3f}" + ("" if kinds[k]["own_map"] else "*") if k in kinds else "–"
                     for k in CAL_KIND_NAMES]
            worst = max([worst, *(v["ece"] for v in kinds.values())])
            n += 1
            held["before"] += a["calibration"]["ece"] <= 0.03
            held["after"] += b["calibration"]["ece"] <= 0.03
            same = "yes" if a["model"]["ndcg@10"] == b["model"]["ndcg@10"] else \
                f"no ({a['model']['ndcg@10']:.4f} -> {b['model']['ndcg@10']:.4f})"
            out.append(f"| {label} | {w} | {a['calibration']['ece']:.3f} | {b['calibration']['ece']:.3f} | "
                       + " / ".join(parts) + f" | {same} |")
    out.append(f"| **ECE <= 0.03** | {n} worlds | {held['before']} of {n} | {held['after']} of {n} | "
               f"worst kind {worst:.3f} | |")
    return "\n".join(out)


def paired_runs(pairs: tuple[tuple[str, str], ...], names: tuple[str, str]) -> dict[str, dict[str, dict]]:
    """``{world: {names[0]: reports, names[1]: reports}}``: every world whose train-seed-0 run exists under both
    prefixes of one of ``pairs`` (before, after)."""
    out = {}
    for before, after in pairs:
        for world in run_worlds(before):
            if (EXPERIMENTS / f"{after}-w{world}-s0.json").exists():
                out[str(world)] = {names[0]: load_experiment(f"{before}-w{world}-s0")["reports"],
                                   names[1]: load_experiment(f"{after}-w{world}-s0")["reports"]}
    return out


def harness_block(name: str, current: str, previous: str | None = None) -> dict[str, str]:
    """README block ``name``: the harness summary ``current`` of the committed defaults; until that has run,
    ``previous`` (the same worlds under the previous defaults, where there is one), saying so."""
    if (EXPERIMENTS / current).exists():
        return {name: robustness_table(json.loads((EXPERIMENTS / current).read_text()))}
    if previous and (EXPERIMENTS / previous).exists():
        return {name: "Not yet run with the current defaults: the runs of the previous defaults (one model per "
                      "regression model, `optim.members: 1`).\n\n"
                      + robustness_table(json.loads((EXPERIMENTS / previous).read_text()))}
    return {}


def commit_date(rev: str) -> str:
    out = subprocess.run(["git", "show", "-s", "--format=%ad", "--date=short", rev], cwd=ROOT, capture_output=True,
                         text=True)
    return out.stdout.strip() or "date unknown: not in this clone"


def runs_provenance(runs: list[str]) -> str:
    """The commits a harness's runs were made from (each run file records the commit it ran from), with their dates."""
    revs: dict[str, list[str]] = {}
    for r in runs:
        f = EXPERIMENTS / f"{r}.json"
        rev = json.loads(f.read_text())["baseline"] if f.exists() else None  # the commit it ran from
        revs.setdefault(rev or "unrecorded", []).append(r)
    parts = [f"`{rev[:7]}` ({commit_date(rev)}): {len(rs)} run{'s' if len(rs) > 1 else ''}"
             if rev != "unrecorded" else f"unrecorded: {', '.join(rs)}" for rev, rs in revs.items()]
    return ("Run from " + "; ".join(parts) + ", on the project's 2-core CPU development machines (a run file "
            "records its commit, not its machine).")


def main_provenance(reports: Path) -> str:
    """Which commit last changed the committed run's reports, when, and how it trained (the train reports)."""
    # the full hash, cut here: `%h`'s length grows with the clone's object count, so two clones disagreed
    out = subprocess.run(["git", "log", "-1", "--format=%H %ad", "--date=short", "--",
                          *(str(reports / f"evaluate_{m}.json") for m in MODELS)],
                         cwd=ROOT, capture_output=True, text=True).stdout.split()
    train = [json.loads((reports / f"train_{m}.json").read_text()) for m in MODELS
             if (reports / f"train_{m}.json").exists()]
    how = ", ".join(sorted({f"{t.get('processes', 1)} process, {t.get('threads', '?')} CPU threads" for t in train}))
    where = f"commit `{out[0][:7]}` ({out[1]})" if len(out) == 2 else "uncommitted reports"
    return (f"The committed run: reports from {where}, trained with {how} (the train reports), on the project's "
            f"2-core CPU development machine.\n\n")


def robustness_table(summary: dict) -> str:
    """The harness's summary (scripts/robustness.py): every headline metric over the runs, each claim's count."""
    out = [f"Over {len(summary['runs'])} runs ({', '.join(summary['runs'])}).", runs_provenance(summary["runs"]),
           "",
           "| metric | mean | std | worst | best |", "|---|---|---|---|---|"]
    for k, s in summary["metrics"].items():
        lower_better = ("MAE" in k or "ECE" in k) and "share" not in k
        worst, best = (s["max"], s["min"]) if lower_better else (s["min"], s["max"])
        d = 1 if "(%)" in k or "points" in k else 3
        out.append(f"| {k} | {s['mean']:.{d}f} | {s['std']:.{d}f} | {worst:.{d}f} | {best:.{d}f} |")
    out += ["", "| claim | holds on | fails on | beyond the modality ceiling on |", "|---|---|---|---|"]
    for c in summary["claims"]:
        beyond = ", ".join(c.get("ceiling_fails_on", [])) or "–"
        out.append(f"| {c['claim']} | {c['holds']} of {c['runs']} runs | {', '.join(c['fails_on']) or '–'} "
                   f"| {beyond} |")
    return "\n".join(out)


LYRICS_READERS = (("reader_glove_vs_median_pct", "GloVe"), ("reader_likelihood_vs_median_pct", "word model"))
CLF_READER = "reader_likelihood_over_majority_points"
CLF_CEILINGS = ("evaluation", "harder")  # the classifier ceiling's two estimates


READER_SHARE = 0.9  # issue 33: each model reaches at least this share of its best reader's gain


def best_reader_gain(row: dict, model: str) -> float:
    """A regression model's best reader gain on one world: % of MAE below the train median, of the best of its
    readers (the lyrics regressor's: of the bag, of its GloVe mean, of the world's word model)."""
    r = row[model]
    return max(-x for x in [r["reader_vs_median_pct"]] + [r[k] for k, _ in LYRICS_READERS if k in r])


def reader_gains(row: dict) -> dict[str, tuple[float, list[tuple[str, float]]]]:
    """One world's best reader gain per model (regressors: % of MAE below the train median, of the best of
    its readers; the classifier: accuracy points over the majority class, of the word-model reader), and each
    run's gain beside it."""
    out = {}
    for m in ("lyrics_regressor", "audio_siamese"):
        out[m] = best_reader_gain(row, m), [(n, -v[m]) for n, v in row["models"].items() if m in v]
    c = row.get("lyrics_classifier", {})
    if CLF_READER in c:
        out["lyrics_classifier"] = c[CLF_READER], [(n, v["lyrics_classifier"]) for n, v in row["models"].items()
                                                   if "lyrics_classifier" in v]
    return out


def reaches_reader(gain: float, best: float) -> bool:
    """A run reaches READER_SHARE of its best reader's gain (a reader that gains nothing asks for as much)."""
    return gain >= READER_SHARE * best - 1e-9 if best > 0 else gain >= best  # the tolerance: 2-decimal figures


def reader_counts(result: dict, prefix: str | None = None) -> dict[str, tuple[int, int, list[str]]]:
    """Per model: the runs that reach READER_SHARE of their world's best reader gain, the runs, and the misses
    (each named with its share, floored: a miss never reads as 0.90); with ``prefix``, its runs alone."""
    out: dict[str, tuple[int, int, list[str]]] = {}
    for row in result["worlds"].values():
        for m, (best, runs) in reader_gains(row).items():
            held, n, misses = out.get(m, (0, 0, []))
            for name, gain in runs:
                if prefix is not None and not name.startswith(f"{prefix}-w"):
                    continue
                ok = reaches_reader(gain, best)
                held, n = held + ok, n + 1
                if not ok:
                    misses.append(f"{name} " + (f"{math.floor(100 * gain / best) / 100:.2f}" if best > 0
                                                else f"{gain:+.1f} against {best:+.1f}"))
            out[m] = held, n, misses
    return {m: v for m, v in out.items() if v[1]}


def reader_share_line(result: dict) -> str:
    """How many runs reach READER_SHARE of their world's best reader gain, per model, misses named with
    their share."""
    counts = reader_counts(result)
    if not counts:
        return "No model runs recorded beside these readers."
    parts = [f"{m} on {held} of {n} runs" + (f" (misses, share of the reader's gain: {', '.join(misses)})"
                                             if misses else "") for m, (held, n, misses) in counts.items()]
    what = "regressors: over the train median" + ("; classifier: over the majority class, of the word-model "
                                                  "reader" if "lyrics_classifier" in counts else "")
    return f"At least {READER_SHARE:.0%} of the world's best reader's gain ({what}): " + "; ".join(parts) + "."


# README's count of the 90% claim: (label, reader file, the runs counted: a prefix, or None for every run the file
# names); today's defaults first
READER_GLANCE = (("development worlds and world 7 (today's defaults)", "reader_reference_dev.json", None),
                 ("held-out worlds (today's defaults)", "reader_reference_fresh.json", None),
                 ("unseen worlds (today's defaults)", "reader_reference_unseen.json", None),
                 ("medium worlds, real shape and density (today's code, the real datasets' settings)",
                  "reader_reference_dense.json", MEDIUM_PREFIX),
                 ("the same medium worlds on the code and dropouts of 2026-12-06", "reader_reference_dense.json",
                  MEDIUM_BEFORE),
                 ("medium worlds, real shape, a tenth of the pairs (the defaults before 2026-12-07)",
                  "reader_reference_medium.json", None),
                 ("earlier designs: development, held out, unseen", "reader_reference.json", None))


def reader_glance() -> str:
    """Per harness with reader references: how many runs of each model reach READER_SHARE of their world's best
    reader gain (README's count of the claim)."""
    models = ("lyrics_regressor", "audio_siamese", "lyrics_classifier")
    out = [f"| runs at >= {READER_SHARE:.0%} of their world's best reader | " + " | ".join(models) + " |",
           "|---|" + "---|" * len(models)]
    for label, name, prefix in READER_GLANCE:
        if not (EXPERIMENTS / name).exists():
            continue
        counts = reader_counts(json.loads((EXPERIMENTS / name).read_text()), prefix)
        out.append(f"| {label} | " + " | ".join(f"{counts[m][0]} of {counts[m][1]}" if m in counts else "–"
                                               for m in models) + " |")
    return "\n".join(out)


# the learning curve's points (make learning-curve) with their readers: (fraction, reader file, world, run)
CURVE_READERS = (("0.01", "reader_reference_curve1.json", "11", "stcurve1-w11-s0"),
                 ("0.03", "reader_reference_curve3.json", "11", "stcurve3-w11-s0"),
                 ("0.1", "reader_reference_medium.json", "11", "realstyle-w11-s0"),
                 ("0.3", "reader_reference_curve30.json", "11", "stcurve30-w11-s0"))


CURVE_ONLY = {f for _, f, _, _ in CURVE_READERS} - {f for _, f, _ in READER_GLANCE}  # shown in reader-curve alone


def curve_reader_table() -> str:
    """Along the learning curve: each model's gain beside its best reader's on the same training pairs, and
    the share of it the model reaches (READER_SHARE is the claim)."""
    models = ("lyrics_regressor", "audio_siamese", "lyrics_classifier")
    out = ["| `splits.data_fraction` | " + " | ".join(f"{m}: model / best reader (share)" for m in models) + " |",
           "|---|" + "---|" * len(models)]
    for frac, name, world, run in CURVE_READERS:
        if not (EXPERIMENTS / name).exists():
            continue
        gains = reader_gains(json.loads((EXPERIMENTS / name).read_text())["worlds"][world])
        cells = []
        for m in models:
            best, runs = gains.get(m, (None, []))
            gain = dict(runs).get(run)
            unit = " points" if m == "lyrics_classifier" else "%"
            cells.append("–" if best is None or gain is None else
                         f"{gain:.1f}{unit} / {best:.1f}{unit} ({math.floor(100 * gain / best) / 100:.2f})")
        out.append(f"| {frac} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def reader_table(result: dict) -> str:
    """Per world: each regression model's MAE vs the train median (every recorded run) next to its reader
    references (lyrics: of the bag of words, then of the words' mean GloVe vector, then the words' own
    model, where measured) and its modality ceiling (scripts/reader_reference.py), then how many worlds
    let a reader, or the ceiling, reach the claim's 25%."""
    models = ("lyrics_regressor", "audio_siamese")
    extra = [k for k, _ in LYRICS_READERS
             if any(k in row["lyrics_regressor"] for row in result["worlds"].values())]
    names = ", ".join(["bag"] + [n for k, n in LYRICS_READERS if k in extra])
    heads = {m: "runs / reader" + (f" ({names})" if extra and m == "lyrics_regressor" else "") + " / ceiling"
             for m in models}
    clf = all("lyrics_classifier" in row for row in result["worlds"].values())
    clf_reader = clf and all(CLF_READER in row["lyrics_classifier"] for row in result["worlds"].values())
    clf_head = (" | lyrics_classifier: runs / reader (word model) / ceiling as evaluated, fitted harder" if clf_reader
                else " | lyrics_classifier ceiling: as evaluated / fitted harder")
    out = ["| world | runs | " + " | ".join(f"{m}: {heads[m]}" for m in models)
           + (clf_head if clf else "") + " |",
           "|---|---|" + "---|" * (len(models) + clf)]
    reader_ok, ceiling_ok = ({m: 0 for m in models} for _ in range(2))
    clf_ok = {k: 0 for k in (*CLF_CEILINGS, "reader")}
    for w, row in result["worlds"].items():
        names = ", ".join(row["models"]) or "none recorded"
        cells = []
        for m in models:
            r = row[m]
            runs = ", ".join(f"{v[m]:+.1f}" for v in row["models"].values()) or "–"
            readers = [r["reader_vs_median_pct"]] + [r[k] for k, _ in LYRICS_READERS if k in r]
            shown = ", ".join(f"{x:+.1f}" for x in readers)
            cells.append(f"{runs} / {shown} / {r['ceiling_vs_median_pct']:+.1f}")
            reader_ok[m] += min(readers) <= -25
            ceiling_ok[m] += r["ceiling_vs_median_pct"] <= -25
        if clf:
            c = row["lyrics_classifier"]
            pts = [c[f"ceiling_{k}_over_majority_points"] for k in CLF_CEILINGS]
            if clf_reader:
                runs = ", ".join(f"{v['lyrics_classifier']:+.1f}" for v in row["models"].values()
                                 if "lyrics_classifier" in v) or "–"
                cells.append(f"{runs} / {c[CLF_READER]:+.1f} / " + ", ".join(f"{x:+.1f}" for x in pts))
                clf_ok["reader"] += c[CLF_READER] >= 10
            else:
                cells.append(" / ".join(f"{x:+.1f}" for x in pts))
            for k, x in zip(CLF_CEILINGS, pts):
                clf_ok[k] += x >= 10
        out.append(f"| {w} | {names} | " + " | ".join(cells) + " |")
    n = len(result["worlds"])
    out += ["", reader_share_line(result), "",
            "MAE vs the train median, %. 25% below the median is reached by a reader on "
            + ", ".join(f"{reader_ok[m]} of {n} worlds ({m})" for m in models)
            + "; by the ceiling on " + ", ".join(f"{ceiling_ok[m]} of {n} ({m})" for m in models) + "."]
    if clf:
        out[-1] += (" The classifier's ceiling (accuracy over the majority class, points) reaches +10 on "
                    f"{clf_ok['evaluation']} of {n} worlds as the evaluation estimates it, {clf_ok['harder']} of "
                    f"{n} fitted harder" + (f"; the reader of the word model on {clf_ok['reader']} of {n}."
                                           if clf_reader else "."))
    return "\n".join(out)


# ---------------------------------------------------------------- README blocks


def blocks(reports: Path = ROOT / "data" / "reports") -> dict[str, str]:
    """Every generated README block, by name."""
    base = load_reports(reports)
    rank, start, stop = set_runs(RANK_SETS), set_runs(START_SETS), set_runs(STOP_SETS)  # world by world
    warm, warm_medium = set_runs(WARM_SETS), set_runs(WARM_MEDIUM_SETS)
    exp = {n: load_experiment(n) for n in ("seed1", "seed2", "artist", "threads1", "frozen-emb", "dropout-0.5",
                                           "no-l2", "bilstm", "bag-tokens")}
    rev, then, params = baseline_of(list(exp.values()))  # what these one-change experiments changed from
    note = baseline_note(rev, params, yaml.safe_load((ROOT / "params.yaml").read_text()))
    return {
        "codemap": doc_blocks.codemap(),
        "params": doc_blocks.params_reference(),
        "glance": doc_blocks.glance(EXPERIMENTS),
        "fidelity": doc_blocks.fidelity_table(reports / "fidelity.json"),
        "threshold": doc_blocks.threshold_block(reports),
        "world-sizes": doc_blocks.world_sizes(),
        "main": main_provenance(reports) + main_tables(base),
        "claims": claims(base),
        "segments": segments_table(base),
        **({"missing": missing_table(json.loads((EXPERIMENTS / "missing_modality.json").read_text()))}
           if (EXPERIMENTS / "missing_modality.json").exists() else {}),
        **({"medium": medium_table(json.loads(one.read_text()))}
           if (one := next((p for p in (EXPERIMENTS / f"{MEDIUM_PREFIX}-w7-s0.json", EXPERIMENTS / "medium-w7.json")
                            if p.exists()), None)) else {}),
        **({"medium-harness": medium_harness_table([load_experiment(f"{MEDIUM_PREFIX}-w{w}-s0") for w in medium])}
           if (medium := run_worlds(MEDIUM_PREFIX)) else {}),
        **({"medium-harness-before": medium_harness_table([load_experiment(f"{MEDIUM_BEFORE}-w{w}-s0")
                                                           for w in before])}
           if (before := run_worlds(MEDIUM_BEFORE)) else {}),
        **({"medium-harness-tenth": medium_harness_table([load_experiment(f"{MEDIUM_TENTH}-w{w}-s0") for w in tenth])}
           if (tenth := run_worlds(MEDIUM_TENTH)) else {}),
        **({"learning-curve": learning_curve_table(curve)}
           if (curve := ROOT / "plots" / "learning_curve.csv").exists() else {}),
        "seeds": note + seed_table(then, [("1", exp["seed1"]["reports"]), ("2", exp["seed2"]["reports"])]),
        "splits": note + split_table(then, exp["artist"]["reports"]),
        "threads": note + threads_table(then, exp["threads1"]["reports"]),
        "encoders": note + encoders_table([("bag with counts, `input: counts` (baseline)", then),
                                    ("bag over the token sequence, `input: tokens`", exp["bag-tokens"]["reports"]),
                                    ("BiLSTM over the token sequence, `kind: bilstm` (published)",
                                     exp["bilstm"]["reports"])]),
        "ablation": note + ablation_table(then, params, [(n, exp[n]) for n in ("frozen-emb", "dropout-0.5", "no-l2")]),
    } | harness_block("robustness", "robustness.json", "robustness_single.json") | harness_block(
        "robustness-fresh", "robustness_fresh.json", "robustness_freshsingle.json") | harness_block(
        "robustness-unseen", "robustness_unseen.json") | harness_block(
        "robustness-unseen3", "robustness_unseen3.json") | harness_block(
        "robustness-fresh3", "robustness_fresh3.json") | harness_block(
        "robustness-dev9", "robustness_dev9.json") | harness_block(
        "robustness-dev10", "robustness_dev10.json") | harness_block(
        "robustness-fresh4", "robustness_fresh4.json") | harness_block(
        "robustness-unseen4", "robustness_unseen4.json") | harness_block(
        "robustness-dev11", "robustness_dev11.json") | harness_block(
        "robustness-fresh5", "robustness_fresh5.json") | harness_block(
        "robustness-unseen5", "robustness_unseen5.json") | harness_block(
        "robustness-dev12", "robustness_dev12.json") | harness_block(
        "robustness-fresh6", "robustness_fresh6.json") | harness_block(
        "robustness-unseen6", "robustness_unseen6.json") | (
        {"reader": reader_table(json.loads((EXPERIMENTS / "reader_reference.json").read_text()))}
        if (EXPERIMENTS / "reader_reference.json").exists() else {}) | {
        f"reader-{p.stem.removeprefix('reader_reference_')}": reader_table(json.loads(p.read_text()))
        for p in sorted(EXPERIMENTS.glob("reader_reference_*.json")) if p.name not in CURVE_ONLY} | (
        {"reader-glance": reader_glance()} if any((EXPERIMENTS / f).exists() for _, f, _ in READER_GLANCE) else {}) | (
        {"reader-curve": curve_reader_table()} if (EXPERIMENTS / CURVE_READERS[0][1]).exists() else {}) | (
        {"rank-loss": settings_table(rank, RANK_SETS, "rank_weight ")} if rank else {}) | (
        {"start": settings_table(start, START_SETS, "", classifier=True)} if start else {}) | (
        {"stopwords": change_block(stop, STOP_SETS, "", classifier=True)} if stop else {}) | (
        {"ensemble": settings_table(ens, ENSEMBLE_SETS, "")} if (ens := ensemble_runs()) else {}) | (
        {"warm-start": change_block(warm, WARM_SETS, "audio tower ")} if warm else {}) | (
        {"warm-start-medium": warm_start_table(WARM_MEDIUM_SETS)} if warm_medium else {}) | (
        {"recipe": recipe_table(RECIPE_SETS)} if run_worlds(RECIPE_SETS[1][0]) else {}) | (
        {"epoch-cap": settings_table(cap, EPOCH_CAP_SETS, "", classifier=True)} if (cap := set_runs(EPOCH_CAP_SETS))
        else {}) | (
        {"calibration-kinds": calibration_kinds_table()}
        if any((EXPERIMENTS / f"{a}-w{w}-s0.json").exists() for _, b, a in CAL_KIND_HARNESSES for w in run_worlds(b))
        else {}) | (
        {"held-out-then-now": settings_table(fresh, FRESH_SETS, "", classifier=True)}
        if (fresh := set_runs(FRESH_SETS)) else {}) | (
        {"epoch-steps": settings_table(steps, STEPS_SETS, "", classifier=True)} if (steps := set_runs(STEPS_SETS))
        else {}) | (
        {"style-default": change_block(style, STYLE_SETS, "", classifier=True)}
        if len(style := paired_runs(STYLE_PAIRS, tuple(p for p, _ in STYLE_SETS))) >= 2 else {}) | (
        {"style-medium": change_block(medium_style, STYLE_SETS, "", classifier=True)}
        if len(medium_style := paired_runs(STYLE_MEDIUM_PAIRS, tuple(p for p, _ in STYLE_SETS))) >= 2 else {}) | (
        {"artist-loss": change_block(art, ARTIST_SETS, "")} if len(art := set_runs(ARTIST_SETS)) >= 2 else {}) | (
        {"artist-loss-unseen": change_block(unseen_art, ARTIST_UNSEEN_SETS, "")}
        if len(unseen_art := set_runs(ARTIST_UNSEEN_SETS)) >= 2 else {}) | (
        {"artist-loss-fresh": change_block(fresh_art, ARTIST_FRESH_SETS, "")}
        if len(fresh_art := set_runs(ARTIST_FRESH_SETS)) >= 2 else {}) | (
        {"artist-loss-medium": change_block(medium_art, ARTIST_MEDIUM_SETS, "")}
        if len(medium_art := set_runs(ARTIST_MEDIUM_SETS)) >= 2 else {}) | (
        {"artist-shares": share_table(ARTIST_HARNESSES, ART_OFF, ART_ON)} if run_worlds(ARTIST_HARNESSES[0][3])
        else {}) | (
        {"audio-encoder": change_block(enc, AUDIO_ENC_SETS, "")}
        if len(enc := paired_runs(AUDIO_ENC_PAIRS, tuple(p for p, _ in AUDIO_ENC_SETS))) >= 2 else {}) | (
        {"audio-encoder-shares": share_table(AUDIO_ENC_HARNESSES, *(lab for _, lab in AUDIO_ENC_SETS))}
        if run_worlds(AUDIO_ENC_HARNESSES[0][3]) else {}) | (
        {"lyrics-dropout": change_block(lyr, LYR_DROP_SETS, "", classifier=True)}
        if len(lyr := paired_runs(LYR_DROP_PAIRS, tuple(p for p, _ in LYR_DROP_SETS))) >= 2 else {}) | (
        {"lyrics-dropout-shares": share_table(LYR_DROP_HARNESSES, *(lab for _, lab in LYR_DROP_SETS),
                                              model="lyrics_regressor")}
        if run_worlds(LYR_DROP_HARNESSES[0][3]) else {}) | (
        {"medium-today": change_block(set_runs(MEDIUM_SETS), MEDIUM_SETS, "", classifier=True).strip() + "\n\n"
         + "\n\n".join(share_table(MEDIUM_SHARES, *(lab for _, lab in MEDIUM_SETS), model=m)
                         for m in ("lyrics_regressor", "audio_siamese"))}
        if set_runs(MEDIUM_SETS) else {})


BLOCK = re.compile(r"<!-- results:(?P<name>[\w-]+) -->\n(?P<body>.*?)\n?<!-- /results:(?P=name) -->", re.S)


def doc_files() -> list[Path]:
    """The files that hold generated blocks: README.md and every page of the docs site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def render_files(texts: dict[Path, str], generated: dict[str, str]) -> dict[Path, str]:
    """Every file with its blocks regenerated; each block must sit in exactly one of the files."""
    found: dict[str, list[str]] = {}
    for path, text in texts.items():
        for mt in BLOCK.finditer(text):
            found.setdefault(mt["name"], []).append(path.name)
    twice = {n: fs for n, fs in found.items() if len(fs) > 1}
    if twice:
        raise SystemExit(f"generated blocks in more than one place: {twice}")
    missing = set(generated) - set(found)
    if missing:
        raise SystemExit(f"the docs lack the generated blocks {sorted(missing)}")
    return {path: render(text, generated, require_all=False) for path, text in texts.items()}


def render(readme: str, generated: dict[str, str], require_all: bool = True) -> str:
    seen = set()

    def sub(mt: re.Match) -> str:
        seen.add(mt["name"])
        if mt["name"] not in generated:
            raise SystemExit(f"README names an unknown generated block {mt['name']!r}")
        return f"<!-- results:{mt['name']} -->\n{generated[mt['name']]}\n<!-- /results:{mt['name']} -->"

    out = BLOCK.sub(sub, readme)
    missing = set(generated) - seen
    if missing and require_all:
        raise SystemExit(f"README lacks the generated blocks {sorted(missing)}")
    return out


def stale_blocks(readme: str, generated: dict[str, str]) -> list[str]:
    """Names of the README blocks whose text differs from what the reports give."""
    have = {mt["name"]: mt["body"] for mt in BLOCK.finditer(readme)}
    return sorted(n for n, body in generated.items() if have.get(n) != body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", default="data/reports", type=Path)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--collect", nargs="+", metavar="NAME")
    g.add_argument("--write", type=Path, nargs="*", metavar="FILE")
    g.add_argument("--check", type=Path, nargs="*", metavar="FILE")
    args = ap.parse_args()
    if args.collect:
        collect(args.collect)
    elif args.write is not None:
        texts = {f: f.read_text() for f in (args.write or doc_files())}
        for f, text in render_files(texts, blocks(args.reports)).items():
            if text != texts[f]:
                f.write_text(text)
                print(f"rewrote {f}")
    elif args.check is not None:
        files = args.check or doc_files()
        stale = stale_blocks("\n".join(f.read_text() for f in files), blocks(args.reports))
        if stale:
            sys.exit(f"blocks out of date with their sources: {stale} (python scripts/results_table.py --write)")
    else:
        print(main_tables(load_reports(args.reports)))


if __name__ == "__main__":
    main()
