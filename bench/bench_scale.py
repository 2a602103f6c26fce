"""The whole DAG at two sizes: every stage in its own process, its wall time and peak RSS, and the growth
from a world to one 10 times larger (issue 18).

    python bench/bench_scale.py                    the `large` world (125k tracks) and one of 12.5k tracks
    python bench/bench_scale.py --big default      2,000 and 200 tracks (a quick check of the script)

Each world is written once under ``bench/out/worlds/`` (its writing time is reported the run that writes
it). The stages run from their ``stages/<name>.py`` scripts, as DVC runs them, with a params file whose
paths point under ``bench/out/scale/<label>/`` and whose raw inputs are that world's files. Training is
bounded in steps (one epoch over ``--train-pairs`` training pairs at both sizes, via
``splits.data_fraction``) so that the table measures what grows with the data (splits, loading, the song
table, evaluation, embedding, indexing), not a longer training run. Peak RSS is the stage process's own
VmHWM (worker processes of chunk_audio are not included; it runs with one worker here). The baseline of
each ratio is the same stage on the small world, run in this session.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, ensure_world, save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("lyrics_classifier", "lyrics_regressor", "audio_siamese", "fused")
PLAN = (["extract_pairs", "expand_lyrics", "list_msd", "chunk_audio", "build_splits"]
        + [f"train@{m}" for m in MODELS] + [f"evaluate@{m}" for m in MODELS]
        + [f"{s}@{m}" for s in ("embed", "index") for m in MODELS[1:]])

PEAK = "import re; print('VmHWM', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"


def stage_params(world: Path, root: Path, fraction: float) -> Path:
    """The repo's params.yaml with paths under ``root``, raw inputs from ``world`` and bounded training."""
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = copy.deepcopy(p)
    p["paths"] = {k: str(root / v) for k, v in p["paths"].items()}
    p["raw"].update(lastfm=str(world / "lastfm"), mxm=str(world / "mxm"), msd=str(world / "msd"),
                    glove=str(world / "glove" / "glove.6B.50d.world.txt"),
                    mxm_reverse_mapping=str(world / "mxm" / "mxm_reverse_mapping.txt"),
                    oracle=str(world / "oracle.parquet"), latent=str(world / "latent.parquet"))
    p["splits"]["data_fraction"] = fraction
    p["chunk_audio"]["workers"] = 1  # peak RSS of the stage's own process
    for m in MODELS:
        p[m]["optim"]["epochs"] = 1
    path = root / "params.yaml"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def run_stage(stage: str, params: Path) -> dict:
    """One stage in a child process: seconds and the child's own peak RSS (MiB)."""
    name, _, model = stage.partition("@")
    argv = [str(ROOT / "stages" / f"{name}.py"), "--params", str(params)] + (["--model", model] if model else [])
    code = ("import runpy, sys, logging\n"
            f"sys.argv = {argv!r}\n"
            "code = 0\n"
            "try:\n"
            f"    runpy.run_path({argv[0]!r}, run_name='__main__')\n"
            "except SystemExit as e:\n"
            "    code = e.code or 0\n"
            f"{PEAK}\n"
            "print('EXIT', code)\n")
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=params.parent)
    secs = time.perf_counter() - t
    lines = r.stdout.strip().splitlines()
    if r.returncode or not lines or lines[-1] != "EXIT 0":
        raise SystemExit(f"{stage} failed:\n{r.stderr[-3000:]}")
    return {"seconds": round(secs, 1), "peak_rss_mib": int(lines[-2].split()[1]) // 1024}


def data_sizes(root: Path) -> dict:
    """What the stages saw: pairs read, the lyrics set's pairs and test tracks."""
    rep = json.loads((root / "data" / "reports" / "build_splits.json").read_text())
    lyr = rep["sets"]["lyrics"]["splits"]
    return {"pairs_read": rep["pairs_in"], "lyrics_tracks": rep["lyrics_tracks"], "audio_tracks": rep["audio_tracks"],
            "lyrics_train_pairs": lyr["train"]["pairs"], "lyrics_test_pairs": lyr["test"]["pairs"],
            "lyrics_test_tracks": lyr["test"]["tracks"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--big", default="large", help="world preset of the big run (the small one has 1/10 its tracks)")
    ap.add_argument("--train-pairs", type=int, default=40_000, help="training pairs per model (one epoch)")
    ap.add_argument("--only", nargs="*", help="run only these stages (names as in the plan, e.g. evaluate@fused)")
    args = ap.parse_args()
    from songsim.synth.world import SIZES

    n_big = SIZES[args.big].n_tracks
    res: dict = {"big_world": f"{args.big} ({n_big} tracks)", "small_world": f"{n_big // 10} tracks", "stages": {}}
    worlds = {}
    for label, n in (("small", n_big // 10), ("big", None)):
        t = time.perf_counter()
        cached = (OUT / "worlds" / (args.big if n is None else f"{args.big}_{n}") / "world.json").exists()
        worlds[label] = ensure_world(args.big, n)
        if not cached:
            res.setdefault("synth_world_seconds", {})[label] = round(time.perf_counter() - t, 1)
    plan = [s for s in PLAN if not args.only or s in args.only]
    sizes = {}
    for label, world in worlds.items():
        root = OUT / "scale" / label
        if not args.only:
            shutil.rmtree(root, ignore_errors=True)
        pairs = json.loads((world / "world.json").read_text())["lastfm"]["pairs"]
        # about 64% of the pairs are lyrics train pairs and neg_ratio adds half again: a fraction for ~train_pairs
        fraction = min(1.0, args.train_pairs / max(1.0, 0.64 * 1.5 * pairs))
        params = stage_params(world, root, round(fraction, 6))
        for stage in plan:
            row = run_stage(stage, params)
            res["stages"].setdefault(stage, {})[label] = row
            print(f"{label:5s} {stage:28s} {row['seconds']:8.1f} s {row['peak_rss_mib']:7d} MiB", flush=True)
        sizes[label] = data_sizes(root)
    res["data"] = sizes
    for row in res["stages"].values():
        if "big" in row and "small" in row:
            row["rss_ratio"] = round(row["big"]["peak_rss_mib"] / max(1, row["small"]["peak_rss_mib"]), 2)
            row["time_ratio"] = round(row["big"]["seconds"] / max(0.1, row["small"]["seconds"]), 2)
    save("scale", res)


if __name__ == "__main__":
    main()
