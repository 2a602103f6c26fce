"""DVC over a million-file MSD tree: the plain directory dependency against the list_msd listing (issue 36).

    python bench/bench_dvc_tree.py                  a generated tree of 1,000,000 files in the MSD layout
    python bench/bench_dvc_tree.py --files 20000    a quick check of the script

The real MSD is one ``.h5`` file per song under ``A/B/C/``. The tree here has that layout and a million
small files (their content does not matter to DVC's cost past the first hash: only their number does). Two
DVC projects (git + DVC, as a user's clone) read it, in this run, one after the other:

- ``plain``: the stage that reads the tree lists it as a directory dependency (``deps: [<tree>]``), as
  ``chunk_audio`` did before ``list_msd``;
- ``listing``: the project's own ``list_msd`` stage (its script, ``always_changed``) lists the tree, and the
  stage that reads it depends on the listing.

For each: the first ``dvc repro``, a no-op ``dvc status`` and ``dvc repro``, and a ``dvc repro`` after one file
was added (which must re-run the reading stage), each as a whole process: wall time and peak RSS (the
largest of the DVC process and the stages it ran, via ``RUSAGE_CHILDREN`` of a small wrapper process).
The reading stage itself only counts rows, so the figures are DVC's and the listing's own cost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import string
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WRAP = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(r.stdout[-4000:]); print(r.stderr[-4000:], file=sys.stderr); "
        "print('RESULT', r.returncode, time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def make_tree(root: Path, n: int, seed: int = 0) -> None:
    """``n`` small files named like MSD track ids, under ``<3rd>/<4th>/<5th letter>/`` (written once)."""
    marker = root / ".files"
    if marker.exists() and int(marker.read_text()) == n:
        return
    shutil.rmtree(root, ignore_errors=True)
    rng, made = random.Random(seed), set()
    letters, alnum = string.ascii_uppercase, string.ascii_uppercase + string.digits
    t = time.perf_counter()
    while len(made) < n:
        tid = "TR" + "".join(rng.choice(letters) for _ in range(3)) + "".join(rng.choice(alnum) for _ in range(13))
        if tid in made:
            continue
        made.add(tid)
        d = root / tid[2] / tid[3] / tid[4]
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{tid}.h5").write_bytes(tid.encode() * 4)
    marker.write_text(str(n))
    print(f"tree: {n:,} files written in {time.perf_counter() - t:.0f} s", file=sys.stderr)


def measured(cwd: Path, *cmd: str) -> dict:
    out = subprocess.run([sys.executable, "-c", WRAP, *cmd], cwd=cwd, capture_output=True, text=True)
    rc, secs, kib = out.stdout.strip().splitlines()[-1].split()[1:]
    if int(rc):
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{out.stdout}\n{out.stderr}")
    ran = [line.split("'")[1] for line in out.stdout.splitlines() if line.startswith("Running stage '")]
    return {"seconds": round(float(secs), 2), "peak_mib": int(kib) // 1024, "ran": ran}


COUNT = "import pyarrow.parquet as pq; open('count.txt', 'w').write(str(pq.read_metadata('listing.parquet').num_rows))"
COUNT_TREE = ("import os, sys; open('count.txt', 'w').write(str(sum(len(f) for _, _, f in os.walk(sys.argv[1])) - 1))")


def project(path: Path, tree: Path, variant: str) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=path, check=True)
    if variant == "plain":
        stages = {"consume": {"cmd": f'{sys.executable} -c "{COUNT_TREE}" {tree}', "deps": [str(tree)],
                              "outs": ["count.txt"]}}
    else:
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["raw"]["msd"] = str(tree)
        params["paths"].update(msd_listing="listing.parquet", reports="reports")
        (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stages = {"list_msd": {"cmd": f"{sys.executable} {ROOT / 'stages' / 'list_msd.py'}", "always_changed": True,
                               "params": ["raw.msd"],
                               "outs": ["listing.parquet", {"reports/list_msd.json": {"cache": False}}]},
                  "consume": {"cmd": f'{sys.executable} -c "{COUNT}"', "deps": ["listing.parquet"],
                              "outs": ["count.txt"]}}
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "project"], cwd=path, check=True)
    return path


def run_variant(work: Path, tree: Path, variant: str, n: int) -> dict:
    proj = project(work / variant, tree, variant)
    out = {"first_repro": measured(proj, "dvc", "repro")}
    assert (proj / "count.txt").read_text() == str(n), (proj / "count.txt").read_text()
    subprocess.run(["git", "add", "-A"], cwd=proj, check=True)
    subprocess.run(["git", "commit", "-qm", "first run"], cwd=proj, check=True)
    out["noop_status"] = measured(proj, "dvc", "status")
    out["noop_repro"] = measured(proj, "dvc", "repro")
    assert "consume" not in out["noop_repro"]["ran"], out["noop_repro"]
    added = tree / "Z" / "Z" / "Z" / "TRZZZADDEDBENCH0000.h5"
    added.parent.mkdir(parents=True, exist_ok=True)
    added.write_bytes(b"added")
    try:
        out["added_file_repro"] = measured(proj, "dvc", "repro")
        assert "consume" in out["added_file_repro"]["ran"] and (proj / "count.txt").read_text() == str(n + 1)
    finally:
        added.unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--variants", nargs="+", default=["listing", "plain"], choices=["listing", "plain"])
    args = ap.parse_args()
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # this venv's dvc
    work = OUT / "dvc_tree"
    tree = work / f"tree_{args.files}"
    make_tree(tree, args.files)
    result = {"files": args.files, "dvc": subprocess.run(["dvc", "--version"], capture_output=True,
                                                         text=True).stdout.strip()}
    for v in args.variants:  # one at a time: never two heavy things at once on 2 cores
        result[v] = run_variant(work, tree, v, args.files)
        print(v, json.dumps(result[v]), file=sys.stderr)
    if {"plain", "listing"} <= set(result):
        result["plain_over_listing"] = {
            k: {"time": round(result["plain"][k]["seconds"] / result["listing"][k]["seconds"], 2),
                "memory": round(result["plain"][k]["peak_mib"] / result["listing"][k]["peak_mib"], 2)}
            for k in ("first_repro", "noop_status", "noop_repro", "added_file_repro")}
    save("dvc_tree", result)


if __name__ == "__main__":
    main()
