"""The whole DAG at two sizes: every stage in its own process, its wall time, peak RSS and the bytes it
writes, and the growth from a world to one 10 times larger (issue 18); then what DVC's cache takes for
those outputs with each cache type.

    python bench/bench_scale.py                    the `large` world (125k tracks) and one of 12.5k tracks
    python bench/bench_scale.py --big default      2,000 and 200 tracks (a quick check of the script)
    python bench/bench_scale.py --disk-only        only the disk accounting, over outputs already written
    python bench/bench_scale.py --only STAGE ...   re-run these stages (no disk accounting; scale_partial.json)

Each world is written once under ``bench/out/worlds/`` (its writing time is reported the run that writes
it). The stages run from their ``stages/<name>.py`` scripts, as DVC runs them, with a params file whose
paths point under ``bench/out/scale/<label>/`` and whose raw inputs are that world's files. Training is
bounded in steps (one epoch over ``--train-pairs`` training pairs at both sizes, via
``splits.data_fraction``) so that the table measures what grows with the data (splits, loading, the song
table, evaluation, embedding, indexing), not a longer training run. Peak RSS is the stage process's own
VmHWM (worker processes of chunk_audio are not included; it runs with one worker here). The baseline of
each ratio is the same stage on the small world, run in this session.

Disk: each stage's outputs as ``dvc.yaml`` declares them (its templates resolved with the bench's params),
in bytes allocated on disk (``du``: blocks, each inode once), split into the outputs DVC caches and the
``cache: false`` ones (reports, metrics, plot data). Then, per cache type (DVC's default ``reflink,copy``,
``hardlink``, ``symlink``, and ``reflink`` alone to see whether the filesystem has it), a throwaway git +
DVC repository under ``bench/out/dvc_disk/`` gets a fresh copy of every cached output and ``dvc add``s
them stage by stage: the cache's size after each stage, and the workspace + cache total at the end, each
file counted once however many links it has.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
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
        + [f"train@{m}" for m in MODELS[:-1]] + ["train_fused"] + [f"evaluate@{m}" for m in MODELS]
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


def stage_outputs(params: Path, stages: list[str]) -> dict[str, list[tuple[Path, bool]]]:
    """Per stage (``name`` or ``name@key``), its outs and metrics as ``dvc.yaml`` declares them, as
    (absolute path, cached by DVC), the ``${...}`` templates resolved with ``params``."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    p = yaml.safe_load(params.read_text())
    out: dict[str, list[tuple[Path, bool]]] = {}
    for stage in stages:
        name, _, key = stage.partition("@")
        d = dvc[name]
        body = d["do"] if "foreach" in d else d
        ctx = {**p, "key": key, "item": d["foreach"][key] if key else {}}

        def sub(text: str, ctx=ctx) -> str:
            def one(m: re.Match) -> str:
                v = ctx
                for part in m.group(1).split("."):
                    v = v[part]
                return str(v)
            return re.sub(r"\$\{([^}]+)\}", one, text)

        rows = []
        for entry in body.get("outs", []) + body.get("metrics", []):
            path, opts = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
            rows.append((Path(params.parent, sub(path)), (opts or {}).get("cache", True)))
        out[stage] = rows
    return out


def disk_bytes(*paths: Path, skip: tuple[str, ...] = ()) -> int:
    """Bytes allocated on disk under ``paths`` (as ``du``: blocks of files, links and folders, each inode
    once, links not followed; folders named in ``skip`` left out)."""
    seen, total = set(), 0

    def count(path: str) -> None:
        nonlocal total
        st = os.lstat(path)
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512

    for top in paths:
        if not os.path.lexists(top):
            continue
        count(str(top))
        if top.is_dir() and not top.is_symlink():
            for folder, dirs, files in os.walk(top):
                dirs[:] = [x for x in dirs if x not in skip]
                for f in files + dirs:
                    count(os.path.join(folder, f))
    return total


def output_sizes(outs: dict[str, list[tuple[Path, bool]]]) -> dict:
    """Per stage: bytes of its cached outputs and of its ``cache: false`` ones."""
    return {stage: {"cached_bytes": disk_bytes(*[p for p, c in rows if c]),
                    "uncached_bytes": disk_bytes(*[p for p, c in rows if not c])} for stage, rows in outs.items()}


CACHE_TYPES = {"default (reflink,copy)": None, "hardlink": "hardlink", "symlink": "symlink", "reflink": "reflink"}


def link_kinds(repo: Path) -> dict[str, int]:
    """How the workspace files of a DVC repo relate to its cache: symlinks, hardlinks (more than one link
    to the inode) or copies (a reflink also reads as a copy here), counted."""
    kinds: dict[str, int] = {}
    for folder, dirs, files in os.walk(repo):
        dirs[:] = [x for x in dirs if x not in (".git", ".dvc")]
        for f in files:
            if f.endswith(".dvc") or f in (".gitignore", ".dvcignore"):
                continue
            path = os.path.join(folder, f)
            kind = "symlink" if os.path.islink(path) else "hardlink" if os.lstat(path).st_nlink > 1 else "copy"
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def dvc_link_support(repo: Path) -> str:
    """The cache types DVC finds the filesystem of ``repo`` (a DVC repo) supports (``dvc version``)."""
    r = subprocess.run(["dvc", "version"], cwd=repo, capture_output=True, text=True,
                       env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    m = re.search(r"Cache types: (.*)", r.stdout)
    return m.group(1).strip() if m else "unknown"


def dvc_cache_sizes(outs: dict[str, list[tuple[Path, bool]]], root: Path, work: Path) -> dict:
    """Per cache type: a fresh git + DVC repo under ``work`` holding a copy of every cached output (paths as
    under ``root``), ``dvc add``ed stage by stage; the cache's bytes after each stage, the workspace and
    cache at the end, and the seconds ``dvc add`` took in all. A type the filesystem lacks is reported as
    its error."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    res = {}
    for label, ctype in CACHE_TYPES.items():
        repo = work / label.split()[0]
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)
        for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.autostage", "false"]) + (
                (["dvc", "config", "cache.type", ctype],) if ctype else ()):
            subprocess.run(cmd, cwd=repo, check=True, env=env, capture_output=True)
        row: dict = {"cache_bytes_after": {}}
        secs = 0.0
        try:
            for stage, rows in outs.items():
                rel = [p.relative_to(root) for p, cached in rows if cached and p.exists()]
                if not rel:
                    continue
                for r in rel:
                    (repo / r).parent.mkdir(parents=True, exist_ok=True)
                    if (root / r).is_dir():
                        shutil.copytree(root / r, repo / r)
                    else:
                        shutil.copy2(root / r, repo / r)
                t = time.perf_counter()
                r_ = subprocess.run(["dvc", "add", "-q", *map(str, rel)], cwd=repo, env=env, capture_output=True,
                                    text=True)
                secs += time.perf_counter() - t
                if r_.returncode:
                    raise RuntimeError((r_.stderr or r_.stdout).strip().splitlines()[-1])
                row["cache_bytes_after"][stage] = disk_bytes(repo / ".dvc" / "cache")
        except RuntimeError as e:
            res[label] = {"error": str(e)}
            shutil.rmtree(repo, ignore_errors=True)
            continue
        cache = disk_bytes(repo / ".dvc" / "cache")
        total = disk_bytes(repo, skip=(".git", "tmp"))
        row.update(cache_bytes=cache, workspace_and_cache_bytes=total, dvc_add_seconds=round(secs, 1),
                   workspace_files_are=link_kinds(repo))
        res.setdefault("filesystem_cache_types", dvc_link_support(repo))
        res[label] = row
        shutil.rmtree(repo, ignore_errors=True)
    return res


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
    ap.add_argument("--disk-only", action="store_true", help="run no stage: measure the outputs already written")
    ap.add_argument("--no-cache", action="store_true", help="skip the DVC cache measurement")
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
    sizes, disk = {}, {}
    for label, world in worlds.items():
        root = OUT / "scale" / label
        if not args.only and not args.disk_only:
            shutil.rmtree(root, ignore_errors=True)
        pairs = json.loads((world / "world.json").read_text())["lastfm"]["pairs"]
        # about 64% of the pairs are lyrics train pairs and neg_ratio adds half again: a fraction for ~train_pairs
        fraction = min(1.0, args.train_pairs / max(1.0, 0.64 * 1.5 * pairs))
        params = stage_params(world, root, round(fraction, 6))
        for stage in plan if not args.disk_only else []:
            row = run_stage(stage, params)
            res["stages"].setdefault(stage, {})[label] = row
            print(f"{label:5s} {stage:28s} {row['seconds']:8.1f} s {row['peak_rss_mib']:7d} MiB", flush=True)
        sizes[label] = data_sizes(root)
        if args.only and not args.disk_only:
            continue
        outs = stage_outputs(params, PLAN)
        disk[label] = {"outputs": output_sizes(outs)}
        for stage, row in disk[label]["outputs"].items():
            print(f"{label:5s} {stage:28s} {row['cached_bytes'] / 2**20:9.1f} MiB cached, "
                  f"{row['uncached_bytes'] / 2**20:7.1f} MiB not cached", flush=True)
        if not args.no_cache:
            disk[label]["dvc_cache"] = dvc_cache_sizes(outs, root, OUT / "dvc_disk")
            for ctype, row in disk[label]["dvc_cache"].items():
                if not isinstance(row, dict):
                    continue
                print(f"{label:5s} cache {ctype:24s} " + (row["error"] if "error" in row else
                      f"cache {row['cache_bytes'] / 2**20:9.1f} MiB, workspace + cache "
                      f"{row['workspace_and_cache_bytes'] / 2**20:9.1f} MiB, dvc add {row['dvc_add_seconds']} s, "
                      f"files {row['workspace_files_are']}"),
                      flush=True)
    res["data"] = sizes
    res["disk"] = disk
    for row in res["stages"].values():
        if "big" in row and "small" in row:
            row["rss_ratio"] = round(row["big"]["peak_rss_mib"] / max(1, row["small"]["peak_rss_mib"]), 2)
            row["time_ratio"] = round(row["big"]["seconds"] / max(0.1, row["small"]["seconds"]), 2)
    if disk.get("big") and disk.get("small"):
        res["disk_ratio"] = {
            stage: round(sum(disk["big"]["outputs"][stage].values()) / max(1, sum(row.values())), 2)
            for stage, row in disk["small"]["outputs"].items()}
    save("scale" if not (args.only or args.disk_only) else "scale_partial", res)


if __name__ == "__main__":
    main()
