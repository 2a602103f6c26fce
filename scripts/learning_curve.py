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
import functools
import json
from pathlib import Path

import yaml
from results_table import git_show

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "data" / "experiments"
OUT = ROOT / "plots" / "learning_curve.csv"
MODELS = ("lyrics_regressor", "audio_siamese", "fused")
FIELDS = ["data_fraction", "world"] + [f"{m}_{k}" for m in MODELS for k in ("train_pairs", "mae", "ndcg")]


@functools.cache
def base_params(commit: str) -> dict:
    """The params.yaml of ``commit``, read once a commit (every run of a curve usually shares one)."""
    return yaml.safe_load(git_show(commit, "params.yaml"))


def base_fraction(run: dict) -> float:
    """``splits.data_fraction`` of the commit a run started from (``baseline``): a run records only the params
    it changed, so a run at the committed fraction records none."""
    if "baseline" not in run:
        raise SystemExit(f"{run['name']}: no splits.data_fraction among its changed params, and no base commit")
    return float(base_params(run["baseline"])["splits"]["data_fraction"])


MISSING = object()  # a param its run's base commit did not have


def base_param(run: dict, key: str):
    """``key`` (dotted) in the params.yaml of the commit a run started from, or MISSING where that commit
    had no such param (it was added later)."""
    node = base_params(run["baseline"]) if "baseline" in run else None
    for k in key.split("."):
        if not isinstance(node, dict) or k not in node:
            return MISSING
        node = node[k]
    return node


def curve_rows(runs: list[dict], default_fraction=base_fraction, base_value=base_param,
               absent: dict | None = None) -> list[dict]:
    """One row a run, by increasing fraction; the runs must differ in ``splits.data_fraction`` alone (a run
    that did not change it has its base commit's, ``default_fraction(run)``). Every param that any run
    changed is compared; a run that did not change it has its base commit's (``base_value``), and where
    that commit did not have the param yet, the value ``absent`` gives it (the setting before it existed,
    e.g. ``audio_siamese.model.artist_weight: 0.0``), else it differs from any run that has it."""
    absent = absent or {}
    keys = sorted(({k for run in runs for k in run["params"]} | set(absent)) - {"splits.data_fraction"})

    def others(run: dict) -> dict:
        out = {}
        for k in keys:
            v = run["params"][k] if k in run["params"] else base_value(run, k)
            out[k] = absent.get(k, "(not a param yet)") if v is MISSING else v
        return out

    first, want = runs[0], others(runs[0])
    for run in runs[1:]:
        if (have := others(run)) != want:
            diff = {k: (v, want[k]) for k, v in have.items() if v != want[k]}
            raise SystemExit(f"{run['name']} differs from {first['name']} in more than splits.data_fraction: "
                             f"{diff} ({run['name']}, {first['name']})")
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
    ap.add_argument("--absent", action="append", default=[], metavar="KEY=VALUE",
                    help="the value of a param for a run whose base commit did not have it yet (read as YAML)")
    args = ap.parse_args()
    absent = {}
    for a in args.absent:
        key, eq, value = a.partition("=")
        if not eq:
            raise SystemExit(f"--absent {a}: KEY=VALUE")
        absent[key] = yaml.safe_load(value)
    rows = curve_rows([json.loads((EXPERIMENTS / f"{n}.json").read_text()) for n in args.runs], absent=absent)
    write(rows)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(rows)} points")


if __name__ == "__main__":
    main()
