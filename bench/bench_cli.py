"""`songsim similar` as a user types it (issue 34): wall time of one call, start-up included, on the demo
catalog (after `make demo`), alternating with the naive baseline in the same session.

    python bench/bench_cli.py [--runs 10] [--model fused]

Each run is a fresh process, as from a shell: `songsim similar <id> -k 10`, a catalog song asked by id
(the index folder alone: no torch). The baseline is the same call that also imports torch and loads the
model's checkpoint, which is what the catalog path did before issue 34 (to read the ranking weights and
the calibration). Then, once each, `--explain`, and a call that must encode a song (`--h5`, the song's
own MSD file from the world's raw files: the model is loaded, and the call prints how long that took).
Query songs: a fixed sample of the index's ids, the same for both.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "songsim"  # the console script a user runs
SONGSIM = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "songsim.cli"]
BASELINE = ("import sys, torch; from songsim.core.checkpoint import load_checkpoint; "
            "load_checkpoint(sys.argv[1], torch.device('cpu')); from songsim.cli import main; "
            "sys.exit(main(sys.argv[2:]))")


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--model", default="fused")
    args = ap.parse_args()
    import pyarrow.parquet as pq

    ids = pq.read_table(ROOT / "data" / "index" / args.model / "ids.parquet").column(0).to_pylist()
    queries = ids[:: max(1, len(ids) // args.runs)][: args.runs]
    ckpt = ROOT / "models" / f"{args.model}.pt"
    fast, naive = [], []
    for q in queries:  # alternating, so both see the same machine
        call = ["similar", q, "-k", "10", "--model", args.model]
        fast.append(wall([*SONGSIM, *call]))
        naive.append(wall([sys.executable, "-c", BASELINE, str(ckpt), *call]))
    med_f, med_n = statistics.median(fast), statistics.median(naive)
    print(f"songsim similar <id>: median {med_f:.3f} s, max {max(fast):.3f} s over {len(fast)} calls")
    print(f"baseline (torch + checkpoint): median {med_n:.3f} s, max {max(naive):.3f} s; "
          f"ratio {med_n / med_f:.2f}x")
    lyrics = pq.read_table(ROOT / "data" / "interim" / "lyrics.parquet", columns=["track_id"])
    with_words = set(lyrics.column(0).to_pylist())
    q = next(x for x in queries if x in with_words)  # words to weigh: the model is loaded
    explain = wall([*SONGSIM, "similar", q, "-k", "10", "--explain", "--model", args.model])
    print(f"--explain ({q}, with lyrics): {explain:.3f} s")
    h5 = next((ROOT / "data" / "raw" / "msd" / q[2] / q[3] / q[4] / f"{q}.h5" for q in queries
               if (ROOT / "data" / "raw" / "msd" / q[2] / q[3] / q[4] / f"{q}.h5").exists()), None)
    if h5 is not None:
        t = time.perf_counter()
        out = subprocess.run([*SONGSIM, "similar", "--h5", str(h5), "-k", "10", "--model", args.model], cwd=ROOT,
                             check=True, capture_output=True, text=True)
        print(f"--h5 {h5.name}: {time.perf_counter() - t:.3f} s; {out.stderr.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
