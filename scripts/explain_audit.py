"""Audit of `songsim similar --explain` over test songs (issue 34): how many of the words shown are stopwords,
and whether two results of one answer with different ranking scores ever show the same score.

    python scripts/explain_audit.py [--model fused] [--queries 100] [--seed 0] [--out FILE]

Queries: a seeded sample of the test songs of the model's split set that its index holds. The answer is the
CLI's own (``Recommender.similar(..., explain=True)``), the scores as the table shows them
(``shown_decimals``). Stopwords: scikit-learn's English list (``ENGLISH_STOP_WORDS``, 318 words), matched
against the shown word and its stem. The same audit with the TF-IDF words (the explanation before issue 34)
runs on the same answers, for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


def audit(rec, queries: list[str], stop: frozenset[str]) -> dict:
    from songsim.serve.recommender import shown_decimals

    words = stop_words = ties = answers = 0
    for q in queries:
        hits = rec.similar(q, 10, explain=True)
        if not hits:
            continue
        answers += 1
        d = shown_decimals(hits)
        shown = [f"{h.score:.{d}f}" for h in hits]
        ties += sum(a == b and x.rank_score != y.rank_score for a, b, x, y in zip(shown, shown[1:], hits, hits[1:]))
        for h in hits:
            for w in h.why.get("shared_words", []):
                words += 1
                stop_words += w["word"].lower() in stop
    return {"answers": answers, "words_shown": words, "stopwords_shown": stop_words,
            "stopword_share": round(stop_words / words, 4) if words else None, "tied_scores": ties}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="fused")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--out", default=str(ROOT / "data" / "experiments" / "explain_audit.json"))
    args = ap.parse_args()
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from songsim.core.config import read_params, section
    from songsim.models import MODELS
    from songsim.serve.recommender import Recommender

    params = read_params(args.params)
    rec = Recommender.from_params(params, args.model)
    test = pq.read_table(Path(section(params, "paths").splits) / MODELS[args.model].split_set / "test.parquet")
    songs = sorted(set(test.column("src").to_pylist()) | set(test.column("tgt").to_pylist()))
    songs = [t for t in songs if t in rec.ids]
    rng = np.random.default_rng(args.seed)
    queries = sorted(rng.choice(songs, size=min(args.queries, len(songs)), replace=False).tolist())
    stop = frozenset(ENGLISH_STOP_WORDS)
    learned = audit(rec, queries, stop)
    from songsim.serve.explain import Explainer

    rec._explainer = Explainer(**rec.explain_sources)  # the same answers, TF-IDF words (as before issue 34)
    tfidf = audit(rec, queries, stop)
    out = {"model": args.model, "queries": len(queries), "seed": args.seed,
           "stopwords": "sklearn ENGLISH_STOP_WORDS (318 words)", "model_word_effects": learned, "tfidf": tfidf}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
