"""What more training data buys: the regression models' test nDCG@10 and MAE against the number of training
pairs, from recorded runs of one world that differ only in ``splits.data_fraction`` (issue 33).

    python scripts/learning_curve.py stcurve1-w11-s0 stcurve3-w11-s0 realstyle-w11-s0 stcurve30-w11-s0

Each name is a run recorded in ``data/experiments/<name>.json`` (``scripts/robustness.py`` records them;
``make learning-curve`` queues the medium world's). The runs must share every param but the fraction, so
the test pairs and the test catalog are the same at every point (``data_fraction`` thins the training
pairs only). Writes ``plots/learning_curve.csv``, one row a fraction: the training pairs, test MAE and
test-catalog nDCG@10 of each regression model; ``dvc plots show`` draws it (plots ``learning_curve_*`` of
``dvc.yaml``), the docs site renders it, and ``make results`` puts its table in README.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import yaml
from results_table import git_show

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "data" / "experiments"
OUT = ROOT / "plots" / "learning_curve.csv"
MODELS = ("lyrics_regressor", "audio_siamese", "fused")
FIELDS = ["data_fraction", "world"] + [f"{m}_{k}" for m in MODELS for k in ("train_pairs", "mae", "ndcg")]


def base_fraction(run: dict) -> float:
    """``splits.data_fraction`` of the commit a run started from (``baseline``): a run records only the params
    it changed, so a run at the committed fraction records none."""
    if "baseline" not in run:
        raise SystemExit(f"{run['name']}: no splits.data_fraction among its changed params, and no base commit")
    return float(yaml.safe_load(git_show(run["baseline"], "params.yaml"))["splits"]["data_fraction"])


def curve_rows(runs: list[dict], default_fraction=base_fraction) -> list[dict]:
    """One row a run, by increasing fraction; the runs must differ in ``splits.data_fraction`` alone (a run
    that did not change it has its base commit's, ``default_fraction(run)``)."""
    def others(run: dict) -> dict:
        return {k: v for k, v in run["params"].items() if k != "splits.data_fraction"}

    first = runs[0]
    for run in runs[1:]:
        if others(run) != others(first):
            raise SystemExit(f"{run['name']} differs from {first['name']} in more than splits.data_fraction: "
                             f"{others(run)} vs {others(first)}")
    rows = []
    for run in runs:
        frac = run["params"].get("splits.data_fraction")
        if frac is None:
            frac = default_fraction(run)
        row = {"data_fraction": frac, "world": run["params"].get("synth.seed", "")}
        for m in MODELS:
            rep = run["reports"][m]
            row |= {f"{m}_train_pairs": run["train"][m]["train_pairs"], f"{m}_mae": round(rep["test"]["mae"], 6),
                    f"{m}_ndcg": round(rep["retrieval"]["model"]["ndcg@10"], 6)}
        rows.append(row)
    if len({r["data_fraction"] for r in rows}) != len(rows):
        raise SystemExit("two runs with the same splits.data_fraction")
    return sorted(rows, key=lambda r: r["data_fraction"])


def write(rows: list[dict], path: Path = OUT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="recorded run names (data/experiments/<name>.json)")
    args = ap.parse_args()
    rows = curve_rows([json.loads((EXPERIMENTS / f"{n}.json").read_text()) for n in args.runs])
    write(rows)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(rows)} points")


if __name__ == "__main__":
    main()
