"""Peak RSS of extract_pairs, expand_lyrics and chunk_audio on the `large` world vs a world 10x smaller.

Each stage runs in its own child process (peak RSS from wait4), with throughput per stage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, ensure_world, run_measured, save  # noqa: E402

from songsim.synth.world import SIZES  # noqa: E402

STAGES = {
    "extract_pairs": ("from songsim.ingest.pairs import extract_pairs as f;"
                      "from songsim.core.config import ExtractPairsConfig as C;"
                      "r = f('{w}/lastfm', '{o}/pairs.parquet', C(0.0, True, 'mean', 0.0))"),
    "expand_lyrics": ("from songsim.ingest.lyrics import expand_lyrics as f;"
                      "from songsim.core.config import ExpandLyricsConfig as C;"
                      "r = f('{w}/mxm', '{o}/lyrics.parquet', '{o}/vocab.parquet', C(300, 'vocab', 0, 0.0))"),
    # one worker: the peak is measured in the stage's own process (workers are separate processes)
    "chunk_audio": ("from songsim.ingest.audio import chunk_audio as f;"
                    "from songsim.core.config import ChunkAudioConfig as C;"
                    "r = f('{w}/msd', '{o}/audio', C(128, 'center', 'zero', True, 2000, 1, 0.0))"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--big", default="large")
    args = ap.parse_args()
    n_big = SIZES[args.big].n_tracks
    worlds = {"small": ensure_world(args.big, n_big // 10), "big": ensure_world(args.big)}
    res: dict = {"big_world": f"{args.big} ({n_big} tracks)", "small_world": f"{n_big // 10} tracks"}
    for stage, code in STAGES.items():
        row = {}
        for label, w in worlds.items():
            o = OUT / "mem" / label
            o.mkdir(parents=True, exist_ok=True)
            secs, rss, out = run_measured(
                "import logging, json; logging.disable(logging.WARNING);"
                "from songsim.core.runtime import configure_arrow_memory; configure_arrow_memory();"  # as the stages do
                + code.format(w=w, o=o)
                + "; print(json.dumps({'read': r.read, 'kept': r.kept}))")
            counts = json.loads(out.strip().splitlines()[-2])
            row[label] = {"peak_rss_mib": rss, "seconds": round(secs, 1), "read": counts["read"],
                          "per_s": round(counts["read"] / secs, 1)}
        row["rss_ratio_big_over_small"] = round(row["big"]["peak_rss_mib"] / row["small"]["peak_rss_mib"], 3)
        row["data_ratio_big_over_small"] = round(row["big"]["read"] / max(1, row["small"]["read"]), 1)
        res[stage] = row
    save("memory", res)


if __name__ == "__main__":
    main()
