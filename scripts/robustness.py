"""Robustness harness: the whole pipeline over W world seeds x S train seeds, one table.

    python scripts/robustness.py --worlds 3 11 19 23 31 --train-seeds 0 1     queue, run, collect, summarise
    python scripts/robustness.py --summarise                                 re-summarise what was collected
    python scripts/robustness.py --prefix fresh --worlds 41 43 47 53 59 61 67 71 73 79 83 89
        worlds kept out of development
    python scripts/robustness.py --prefix pair --set train.rank_weight=0     the same worlds, another setting

Each run is a DVC experiment ``rob-w<W>-s<S>`` (``dvc exp run --queue -S synth.seed=W -S train.seed=S``,
run one at a time by ``dvc queue start``, in temporary copies: the workspace keeps the committed results).
Finished runs are recorded like every experiment (``data/experiments/<name>.json``: changed params and
the evaluation reports of the run's commit), and ``data/experiments/robustness.json`` holds the summary of
every run recorded under the prefix, this invocation's and earlier ones' (so a harness may run a world at a
time; each run's record names its commit), less any run that failed in this invocation: every
headline metric as mean, standard deviation, worst and best over the runs, and for each claim the
runs on which it holds; ``python scripts/results_table.py --write README.md`` puts it in README.

``--prefix fresh`` names the runs ``fresh-w<W>-s<S>`` and writes ``data/experiments/robustness_fresh.json``
instead: a second table over worlds that were never run while the defaults were chosen (held-out worlds,
as a test set is held out of training), summarised apart from the development harness. ``--set KEY=VALUE``
(repeatable) adds a param override to every run of the set, so a setting is compared with the committed
one over the same worlds and train seeds.

A full run of the default world takes about 5 minutes on 2 CPU cores (world, ingest, four trainings,
evaluation, embeddings, indexes); 10 runs take about 50 minutes.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_table as rt  # noqa: E402


def summary_path(prefix: str) -> Path:
    """Where the summary of the runs named ``<prefix>-w<W>-s<S>`` goes."""
    return rt.EXPERIMENTS / ("robustness.json" if prefix == "rob" else f"robustness_{prefix}.json")


def headline(m: dict[str, dict]) -> dict[str, float]:
    """The metrics a claim is made about, from one run's evaluation reports."""
    clf, lyr, aud, fus = (m[k] for k in rt.MODELS)
    single = min(rt.mm_mae(aud), rt.mm_mae(lyr))
    out = {
        "lyrics_regressor MAE vs train median (%)": -100 * lyr["mae_improvement_over_train_median"],
        "audio_siamese MAE vs train median (%)": -100 * aud["mae_improvement_over_train_median"],
        "fused MAE vs train median (%)": -100 * fus["mae_improvement_over_train_median"],
        "fused MAE vs better single model, same pairs (%)": -100 * (1 - rt.mm_mae(fus) / single),
        "classifier accuracy over majority (points)": 100 * clf["gain_over_majority_accuracy"],
    }
    # the modality ceilings (judge.ceiling): what a perfect reader of each model's inputs reaches on this world
    for k, short in (("lyrics_regressor", "lyrics_regressor"), ("audio_siamese", "audio_siamese"), ("fused", "fused")):
        ceil = m[k]["baselines"].get("latent_ceiling")
        if ceil:
            med = m[k]["baselines"]["train_median"]["mae"]
            out[f"{short} ceiling: MAE vs train median (%)"] = -100 * (1 - ceil["mae"] / med)
            out[f"{short} share of its ceiling"] = m[k]["ceiling_share"]
    ceil = clf["baselines"].get("latent_ceiling")
    if ceil:
        out["classifier ceiling: accuracy over majority (points)"] = 100 * (
            ceil["accuracy"] - clf["baselines"]["majority"]["accuracy"])
        out["classifier share of its ceiling"] = clf["ceiling_share"]
    # each model against the baseline of its modality (fused: the better of the two)
    own = {"lyrics": ("tfidf_cosine",), "audio": ("audio_mean_cosine",), "fused": ("tfidf_cosine", "audio_mean_cosine")}
    for k, short in (("lyrics_regressor", "lyrics"), ("audio_siamese", "audio"), ("fused", "fused")):
        r = m[k]["retrieval"]
        out[f"{short} nDCG@10"] = r["model"]["ndcg@10"]
        best = max(r["baselines"][n]["ndcg@10"] for n in own[short])
        out[f"{short} nDCG@10 / its baseline"] = r["model"]["ndcg@10"] / best
        out[f"{short} served vs exhaustive top-10"] = r["served_vs_exhaustive_recall@10"][str(r["served_candidates"])]
        if "calibration" in r:
            out[f"{short} test ECE"] = r["calibration"]["ece"]
    for name, boot in m["fused"]["retrieval"].get("bootstrap", {}).items():
        what = "hybrid" if name.endswith("hybrid") else "best single baseline"
        out[f"fused - {what} nDCG@10, bootstrap 95% lower bound"] = boot["ci95"][0]
    hy = m["fused"]["retrieval"]["baselines"].get("hybrid")
    if hy:
        out["fused nDCG@10 / hybrid baseline"] = m["fused"]["retrieval"]["model"]["ndcg@10"] / hy["ndcg@10"]
    b = m["fused"]["retrieval"]["baselines"]
    out["TF-IDF nDCG@10 (multimodal test)"] = b["tfidf_cosine"]["ndcg@10"]
    out["mean-audio nDCG@10"] = b["audio_mean_cosine"]["ndcg@10"]
    if "hybrid" in b:
        out["hybrid baseline nDCG@10"] = b["hybrid"]["ndcg@10"]
    return out


# (claim, metric, threshold, higher is better)
CLAIMS = [
    ("each regression model >= 25% below the train-median MAE", ("lyrics_regressor MAE vs train median (%)",
     "audio_siamese MAE vs train median (%)", "fused MAE vs train median (%)"), -25.0, False),
    ("fused >= 3% below the better single-modality model", ("fused MAE vs better single model, same pairs (%)",),
     -3.0, False),
    ("classifier >= majority + 10 points", ("classifier accuracy over majority (points)",), 10.0, True),
    ("fused nDCG@10 >= 1.5x the best single baseline", ("fused nDCG@10 / its baseline",), 1.5, True),
    ("fused nDCG@10 >= 1.2x the tuned hybrid baseline", ("fused nDCG@10 / hybrid baseline",), 1.2, True),
    ("lyrics model >= 1.2x TF-IDF, audio model >= 1.2x mean audio (nDCG@10)",
     ("lyrics nDCG@10 / its baseline", "audio nDCG@10 / its baseline"), 1.2, True),
    ("paired-bootstrap 95% interval of fused - best single baseline above 0",
     ("fused - best single baseline nDCG@10, bootstrap 95% lower bound",), 0.0, True),
    ("test expected calibration error <= 0.03", ("lyrics test ECE", "audio test ECE", "fused test ECE"), 0.03,
     False),
    ("served top-10 = exhaustive top-10 (>= 0.99)", ("lyrics served vs exhaustive top-10",
     "audio served vs exhaustive top-10", "fused served vs exhaustive top-10"), 0.99, True),
]


def ceiling_key(metric: str) -> str | None:
    """The modality-ceiling counterpart of a claim's metric, where there is one."""
    model, _, rest = metric.partition(" ")
    if rest in ("MAE vs train median (%)", "accuracy over majority (points)"):
        return f"{model} ceiling: {rest}"
    return None


def summarise(names: list[str]) -> dict:
    runs = {n: headline(rt.load_experiment(n)["reports"]) for n in names}
    metrics = sorted({k for r in runs.values() for k in r}, key=list(next(iter(runs.values()))).index)
    table = {}
    for k in metrics:
        vals = [r[k] for r in runs.values() if k in r]
        table[k] = {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals), "min": min(vals),
                    "max": max(vals), "runs": len(vals)}
    claims = []
    for text, keys, thr, higher in CLAIMS:
        held = [n for n, r in runs.items()
                if all(k in r and ((r[k] >= thr) if higher else (r[k] <= thr)) for k in keys)]
        # runs where even a perfect reader of the inputs misses the threshold: the world, not the model
        beyond = [n for n, r in runs.items()
                  if any(ceiling_key(k) in r and not ((r[ceiling_key(k)] >= thr) if higher
                                                      else (r[ceiling_key(k)] <= thr))
                         for k in keys if ceiling_key(k))]
        claims.append({"claim": text, "holds": len(held), "runs": len(runs),
                       "fails_on": sorted(set(runs) - set(held)), "ceiling_fails_on": sorted(beyond)})
    return {"runs": names, "metrics": table, "claims": claims}


def run_name(prefix: str, world: int, seed: int) -> str:
    """A harness run's name, the one :func:`recorded` reads back."""
    return f"{prefix}-w{world}-s{seed}"


def recorded(prefix: str) -> list[str]:
    """The runs recorded under ``prefix`` (``<prefix>-w<W>-s<S>.json`` in the experiments folder), by world
    then train seed."""
    pat = re.compile(rf"{re.escape(prefix)}-w(\d+)-s(\d+)")
    found = sorted((int(m[1]), int(m[2]), p.stem) for p in rt.EXPERIMENTS.glob(f"{prefix}-w*-s*.json")
                   if (m := pat.fullmatch(p.stem)))
    return [stem for _, _, stem in found]


def queue_lines() -> list[str]:
    """``dvc queue status``'s task lines (task id first), its header left out."""
    out = subprocess.run(["dvc", "queue", "status"], cwd=rt.ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.split() and line.split()[0] != "Task"]


def run(worlds: list[int], seeds: list[int], size: str | None, prefix: str = "rob",
        overrides: tuple[str, ...] = ()) -> list[str]:
    # the queue keeps every earlier task (a failed run of the same name among them): only this call's count
    earlier = {line.split()[0] for line in queue_lines()}
    names = []
    for w in worlds:
        for s in seeds:
            name = run_name(prefix, w, s)
            cmd = ["dvc", "exp", "run", "--queue", "-n", name, "-S", f"synth.seed={w}", "-S", f"train.seed={s}"]
            if size:
                cmd += ["-S", f"synth.size={size}"]
            for o in overrides:
                cmd += ["-S", o]
            subprocess.run(cmd, cwd=rt.ROOT, check=True)
            names.append(name)
    subprocess.run(["dvc", "queue", "start", "-j", "1"], cwd=rt.ROOT, check=True)
    t0 = time.time()
    while True:
        mine = [line for line in queue_lines() if line.split()[0] not in earlier
                and any(f" {n} " in f" {line} " for n in names)]
        if not any(("Queued" in line or "Running" in line) for line in mine):
            break
        time.sleep(30)
        print(f"[{time.time() - t0:.0f} s] " + "; ".join(" ".join(line.split()[1:3]) for line in mine), flush=True)
    failed = [line for line in mine if "Failed" in line]
    if failed:
        print("failed runs (dvc queue logs NAME):\n" + "\n".join(failed), file=sys.stderr)
    done = [n for n in names if not any(f" {n} " in f" {line} " for line in failed)]
    rt.collect(done)
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", type=int, nargs="+", default=[3, 11, 19, 23])
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--size", choices=["tiny", "default", "medium", "large"],
                    help="synth.size of every run (default: params)")
    ap.add_argument("--summarise", action="store_true", help="only summarise the runs already recorded")
    ap.add_argument("--prefix", default="rob", help="run names <prefix>-w<W>-s<S>; rob: the development harness "
                    "(robustness.json), another: its own summary, robustness_<prefix>.json")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a param override for every run of the set (dvc exp run -S KEY=VALUE); repeatable")
    args = ap.parse_args()
    if not args.prefix.isidentifier():
        ap.error(f"--prefix must be a plain name, got {args.prefix!r}")
    if args.prefix == "rob" and args.set:
        ap.error("--set changes the runs: give them their own --prefix (rob is the committed settings' harness)")
    if any("=" not in o or o.startswith(("synth.seed=", "train.seed=")) for o in args.set):
        ap.error("--set takes KEY=VALUE, and not synth.seed / train.seed (those are --worlds / --train-seeds)")
    failed = []
    if not args.summarise:
        done = run(args.worlds, args.train_seeds, args.size, args.prefix, tuple(args.set))
        asked = [run_name(args.prefix, w, s) for w in args.worlds for s in args.train_seeds]
        failed = [n for n in asked if n not in done]
    # every run the prefix has recorded, so a harness resumed world by world is summarised whole; a run that
    # failed now is left out even where an earlier record of it exists
    names = [n for n in recorded(args.prefix) if n not in failed]
    if not names:
        sys.exit(f"no recorded runs named {args.prefix}-w<W>-s<S> in {rt.EXPERIMENTS}")
    summary = summarise(names)
    summary_path(args.prefix).write_text(json.dumps(summary, indent=1) + "\n")
    print(rt.robustness_table(summary))
    if failed:
        sys.exit(f"{len(failed)} run(s) failed, left out of the summary: {', '.join(failed)}")


if __name__ == "__main__":
    main()
