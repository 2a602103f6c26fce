"""Several trainings at once on this machine's cores, and data-parallel training with 2 processes.

Each training is the real ``train`` stage (``stages/train.py``) in its own process, on the pipeline
outputs of ``dvc repro``, writing under bench/out/parallel/ (never the pipeline's own outputs).

- ``concurrency``: one training alone, then two started together, with the default thread choice
  (``train.threads: 0``: each takes cores / trainings running) and with what every process took before
  (all the cores each, here ``train.threads`` = cores). Aggregate = the sum of the runs' mean pairs/s.
- ``ddp``: ``train.nproc`` 1 vs 2 (torchrun, gloo on CPU) at the same global batch: pairs/s and the best
  validation MAE.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, save  # noqa: E402

from songsim.learn.threads import available_cores  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def params_file(base: dict, tag: str, model: str, epochs: int, **train) -> Path:
    p = json.loads(json.dumps(base))
    for k in ("models", "metrics", "plots", "reports"):
        p["paths"][k] = str(OUT / "parallel" / tag / k)
    p["train"].update({"device": "cpu", "patience": epochs, **train})  # default: no early stop, all epochs run
    p[model]["optim"]["epochs"] = epochs
    if model == "fused":  # its whole network trains, as in the recorded figures (no trained audio model here)
        p[model]["model"].update(audio_init="none", freeze_audio=False)
    f = OUT / "parallel" / f"{tag}.yaml"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(yaml.safe_dump(p, sort_keys=False))
    return f


def start(f: Path, model: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "stages/train.py", "--model", model, "--params", str(f)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def report(f: Path, model: str, proc: subprocess.Popen) -> dict:
    err = proc.communicate()[1]
    if proc.returncode:
        raise RuntimeError(f"{f}: exit {proc.returncode}\n{err[-2000:]}")
    rep = json.loads((Path(yaml.safe_load(f.read_text())["paths"]["reports"]) / f"train_{model}.json").read_text())
    return {"pairs_per_s": rep["mean_pairs_per_s"], "best_val_mae": rep.get("best_val_mae"),
            "threads": rep.get("threads"), "processes": rep.get("processes"), "seconds": rep["seconds"]}


def together(base: dict, model: str, epochs: int, tag: str, n: int, **train) -> dict:
    files = [params_file(base, f"{tag}_{i}", model, epochs, **train) for i in range(n)]
    t = time.perf_counter()
    procs = [start(f, model) for f in files]
    runs = [report(f, model, p) for f, p in zip(files, procs)]
    return {"runs": runs, "aggregate_pairs_per_s": round(sum(r["pairs_per_s"] for r in runs), 1),
            "wall_s": round(time.perf_counter() - t, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--models", nargs="+", default=["lyrics_regressor", "audio_siamese"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], choices=["concurrency", "ddp"])
    args = ap.parse_args()
    base = yaml.safe_load((ROOT / args.params).read_text())
    cores = available_cores()
    res: dict = {"cores": cores, "epochs": args.epochs}
    for model in args.models:
        row: dict = {}
        if "concurrency" not in args.skip:
            alone = together(base, model, args.epochs, f"{model}_alone", 1, threads=0)
            auto = together(base, model, args.epochs, f"{model}_auto", 2, threads=0)
            greedy = together(base, model, args.epochs, f"{model}_greedy", 2, threads=cores)
            a = alone["aggregate_pairs_per_s"]
            row["concurrency"] = {
                "alone": alone, "two_auto_threads": auto, "two_all_cores_each": greedy,
                "aggregate_ratio_auto": round(auto["aggregate_pairs_per_s"] / a, 3),
                "aggregate_ratio_all_cores_each": round(greedy["aggregate_pairs_per_s"] / a, 3)}
        if "ddp" not in args.skip:
            one = together(base, model, args.epochs, f"{model}_nproc1", 1, threads=0, nproc=1)
            two = together(base, model, args.epochs, f"{model}_nproc2", 1, threads=0, nproc=2)
            row["ddp"] = {"nproc1": one["runs"][0], "nproc2": two["runs"][0],
                          "speedup": round(two["runs"][0]["pairs_per_s"] / one["runs"][0]["pairs_per_s"], 3)}
        res[model] = row
        print(model, json.dumps(row), file=sys.stderr)
    save("parallel", res)


if __name__ == "__main__":
    main()
