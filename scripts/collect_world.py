"""Record one pipeline run of another world (a separate workspace) as ``data/experiments/<name>.json``.

    python scripts/collect_world.py /path/to/workspace medium-w7

The workspace is a checkout of this project whose ``params.yaml`` was changed (e.g. ``synth.size: medium``
and the published ``synth.coverage``) and reproduced with ``dvc repro``. Recorded: the params that differ
from this checkout's ``params.yaml``, the commit the workspace ran, and the reports `make results` reads
(evaluation, embedding, training, splits, the fidelity coverage section).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("lyrics_classifier", "lyrics_regressor", "audio_siamese", "fused")
EMBEDDED = ("lyrics_regressor", "audio_siamese", "fused")


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(flat(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workspace", type=Path)
    ap.add_argument("name")
    ap.add_argument("--rev", help="the commit whose code ran (default: the workspace's HEAD)")
    ap.add_argument("--note", default="", help="anything the record should say about the run")
    args = ap.parse_args()
    ws = args.workspace
    theirs = flat(yaml.safe_load((ws / "params.yaml").read_text()))
    ours = flat(yaml.safe_load((ROOT / "params.yaml").read_text()))
    changed = {k: v for k, v in theirs.items() if ours.get(k) != v}
    rev = args.rev or subprocess.run(["git", "-C", str(ws), "rev-parse", "HEAD"], capture_output=True, text=True,
                                     check=True).stdout.strip()
    rep = ws / "data" / "reports"

    def load(name: str) -> dict:
        return json.loads((rep / f"{name}.json").read_text())

    fidelity = load("fidelity")
    out = {"name": args.name, "rev": rev, "note": args.note, "params": changed,
           "reports": {m: load(f"evaluate_{m}") for m in MODELS},
           "train": {m: load(f"train_{m}") for m in MODELS},
           "embed": {m: load(f"embed_{m}") for m in EMBEDDED},
           "splits": {s: {k: v["pairs"] for k, v in sec["splits"].items()} | {"eligible_tracks": sec["eligible_tracks"]}
                      for s, sec in load("build_splits")["sets"].items()},
           "coverage": fidelity.get("coverage")}
    path = ROOT / "data" / "experiments" / f"{args.name}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}: {len(changed)} params changed from this checkout")


if __name__ == "__main__":
    main()
