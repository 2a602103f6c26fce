"""Asking by a catalog song's own content gives the answer asked by its id (issue 34): for 100 test songs of
the catalog (seeded), the song's musiXmatch line (rebuilt from the raw files) and its MSD file, asked of
each served model; the top-10 overlap with the answer by id, and whether the song was recognised.

    python scripts/content_roundtrip.py [--songs 100] [--seed 0] [--out data/experiments/content_roundtrip.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--songs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--out", default=str(ROOT / "data" / "experiments" / "content_roundtrip.json"))
    args = ap.parse_args()
    from songsim.core.config import read_params, section
    from songsim.ingest.readers.mxm import MxmReader
    from songsim.serve.content import Content, Vocabulary, read_h5
    from songsim.serve.recommender import Recommender

    params = read_params(args.params)
    paths = section(params, "paths")
    test = pq.read_table(Path(paths.splits) / "catalog" / "test.parquet")
    vocab = Vocabulary(paths.vocab)
    out = {"songs": args.songs, "seed": args.seed, "k": 10, "models": {}}
    for model in ("fused", "lyrics_regressor", "audio_siamese"):
        rec = Recommender.from_params(params, model)
        songs = sorted(set(test.column("src").to_pylist()) & set(rec.ids))
        queries = sorted(np.random.default_rng(args.seed).choice(songs, args.songs, replace=False).tolist())
        lines = {r.track_id: f"{r.track_id},{r.mxm_id}," + ",".join(f"{i}:{c}" for i, c in zip(r.word_ids, r.counts))
                 for r in MxmReader(params["raw"]["mxm"]) if getattr(r, "track_id", None) in set(queries)}
        overlaps, same = [], 0
        for t in queries:
            h5 = Path(params["raw"]["msd"]) / t[2] / t[3] / t[4] / f"{t}.h5"
            content = Content(vocab.from_bow(lines[t]) if t in lines else None,
                              read_h5(h5, rec.content_config[1]) if h5.exists() else None)
            hits, info = rec.similar_to(content, 10)
            want = {h.track_id for h in rec.similar(t, 10)}
            overlaps.append(len(want & {h.track_id for h in hits}) / max(len(want), 1))
            same += info["same_as"] == t
        out["models"][model] = {"queries": len(queries), "mean_top10_overlap": round(float(np.mean(overlaps)), 4),
                                "min_top10_overlap": round(float(min(overlaps)), 4), "recognised": same}
        print(model, out["models"][model], flush=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
