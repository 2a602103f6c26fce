"""Large batches that still learn: the best validation MAE at batch 1024 vs the tuned batch 256.

Runs the real ``train`` stage (one process at a time, CPU) on the pipeline outputs of ``dvc repro``, for
each model: batch 256 with the params' lr; batch 1024 with each lr rule (``none``: the same lr;
``sqrt`` / ``linear``: scaled, with ``train.warmup_epochs`` of warm-up). Same epochs and early stopping as
params.yaml, or --epoch-factor times the epochs for the big batch. Outputs under bench/out/parallel/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_parallel import ROOT, params_file, report, start  # noqa: E402
from common import save  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--models", nargs="+", default=["lyrics_regressor", "fused"])
    ap.add_argument("--rules", nargs="+", default=["none", "sqrt", "linear"])
    ap.add_argument("--big", type=int, default=1024)
    ap.add_argument("--epoch-factor", type=float, default=1.0,
                    help="the big batch trains this many times the epochs (and cosine t_max, and patience): 2 = "
                         "about the small batch's wall time on 2 CPU cores")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    base = yaml.safe_load((ROOT / args.params).read_text())
    res: dict = {}
    for model in args.models:
        epochs = base[model]["optim"]["epochs"]
        patience = base["train"]["patience"]
        small = base[model]["optim"]["batch_size"]
        row: dict = {}
        runs = [(f"bs{small}", small, "none")] + [(f"bs{args.big}_{r}", args.big, r) for r in args.rules]
        for tag, bs, rule in runs:
            b = json.loads(json.dumps(base))
            b[model]["optim"]["batch_size"] = bs
            factor = args.epoch_factor if bs != small else 1.0
            b[model]["optim"]["t_max"] = round(b[model]["optim"]["t_max"] * factor)
            f = params_file(b, f"{model}_{tag}{args.tag}", model, round(epochs * factor), lr_scaling=rule,
                            patience=round(patience * factor))
            row[tag] = report(f, model, start(f, model))
            print(model, tag, row[tag], file=sys.stderr)
        ref = row[f"bs{small}"]["best_val_mae"]
        for tag in row:
            row[tag]["vs_small_batch"] = round(row[tag]["best_val_mae"] / ref, 4)
        res[model] = row
    save(f"large_batch{args.tag}", res)


if __name__ == "__main__":
    main()
