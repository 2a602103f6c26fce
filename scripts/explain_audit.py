"""Audit of `songsim similar --explain` over test songs (issue 34): how many of the words shown are stopwords,
and whether two results of one answer with different ranking scores ever show the same score.

    python scripts/explain_audit.py [--model fused] [--queries 100] [--seed 0] [--out FILE]

Queries: a seeded sample of the test songs of the model's split set that its index holds. The answer is the
CLI's own (``Recommender.similar(..., explain=True)``), the scores as the table shows them
(``shown_decimals``). Stopwords: scikit-learn's English list (``ENGLISH_STOP_WORDS``, 318 words), matched
against the shown word. It is not the list the lyrics encoders leave out (``encoder.stopwords: english``,
``songsim.core.stopwords.FUNCTION_WORDS``, a shorter list of our own); the words of that list are counted
too (``function_words_shown``). The same audit with the TF-IDF words (the explanation before issue 34) runs
on the same answers, for comparison.

Two diagnostics say where the stopwords come from:

- ``word_signal``: how much of the words' signal across songs the stopwords carry, in the world's
  musiXmatch files (``raw.mxm``) and in the genuine sample (``fidelity.reference_mxm``), by one estimator:
  a word's excess variance across songs beyond a multinomial draw at its overall rate (``kappa``, the
  squared coefficient of variation of its song-level rate), times its rate; songs of at least 20 words;
- ``function_words_part`` (a model with ``encoder.stopwords: style``): the function words' part of each
  result's lyrics match (``why.function_words``, against the list's other songs) over the pair's lyrics
  term, its 10th, 50th and 90th percentiles, the share of results where it is above 0, and its median on
  the results the test pairs list as similar to the query (score above 0) against the others, with the
  chance that a listed result's part is above an other's (0.5: it says nothing about the listing);
- ``model_word_weights``: the learned per-word weights of the model's bag encoder (softplus, 1 at the
  start of training), stopwords against the other words, and the stopwords' share of the pooled mass of
  an average song (weight x count^power over the training lyrics).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from songsim.core.stopwords import stop_stems

ROOT = Path(__file__).resolve().parents[1]


def audit(rec, queries: list[str], stop: frozenset[str], also: frozenset[str] = frozenset(),
          listed: frozenset[tuple[str, str]] = frozenset()) -> dict:
    """The answers' words on ``stop`` (and, as ``also_shown``, on the list ``also``) and their tied scores;
    ``listed``: the (query, song) pairs the test pairs score above 0 (Last.fm similars), both ways round."""
    from songsim.serve.recommender import shown_decimals

    words = stop_words = also_words = ties = answers = 0
    which: Counter[str] = Counter()
    parts: list[float] = []  # encoder.stopwords: style: the function words' part, over the pair's lyrics term
    is_listed: list[bool] = []  # whether that result is a listed similar of its query
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
                which.update([w["word"].lower()] if w["word"].lower() in stop else [])
                also_words += w["word"].lower() in also
            term = h.why["modalities"].get("lyrics", {}).get("term")
            if "function_words" in h.why and term is not None and term > 1e-3:  # a lyrics match to share
                parts.append(h.why["function_words"] / term)
                is_listed.append((q, h.track_id) in listed)
    out = {"answers": answers, "words_shown": words, "stopwords_shown": stop_words,
           "stopword_share": round(stop_words / words, 4) if words else None, "tied_scores": ties,
           "stopwords_most_shown": dict(which.most_common(8))}
    if parts:  # how much of the lyrics match the function words make together, where the model reads them apart
        q = np.quantile(parts, [0.1, 0.5, 0.9])
        part, on = np.array(parts), np.array(is_listed)
        out["function_words_part"] = {"results": len(parts), "above_0": round(float(np.mean(part > 0)), 4),
                                      "of_lyrics_term_p10_p50_p90": [round(float(x), 4) for x in q]}
        if on.any() and (~on).any():  # does it say more where Last.fm lists the two as similar?
            out["function_words_part"] |= {
                "listed_similars": int(on.sum()), "other_results": int((~on).sum()),
                "median_listed": round(float(np.median(part[on])), 4),
                "median_other": round(float(np.median(part[~on])), 4),
                "listed_above_other": round(float((part[on][:, None] > part[~on][None, :]).mean()), 4)}
    return out | ({"function_words_shown": also_words} if also else {})


def word_signal(path: str | Path, stop: frozenset[str], min_words: int = 20) -> dict:
    """Stopwords' share of the words' mass and of their excess variance across songs (see the docstring),
    streamed over the musiXmatch file(s) or .db at ``path``."""
    from songsim.ingest.readers.mxm import MxmReader, MxmTrack

    reader = MxmReader(path)
    v = len(reader.vocab) + 1
    s_c, s_c2, s_lc = np.zeros(v), np.zeros(v), np.zeros(v)  # per word: sum c, sum c^2, sum L c
    s_l = s_l2 = songs = 0.0
    for t in reader:
        if not isinstance(t, MxmTrack):
            continue
        w, c = np.asarray(t.word_ids), np.asarray(t.counts, dtype=np.float64)
        length = c.sum()
        if length < min_words:
            continue
        songs += 1
        s_l, s_l2 = s_l + length, s_l2 + length ** 2
        s_c[w] += c
        s_c2[w] += c ** 2
        s_lc[w] += length * c
    rate = s_c / s_l
    excess = s_c2 - 2 * rate * s_lc + rate ** 2 * s_l2 - s_c  # sum over songs of (c - L p)^2 - c
    kappa = np.maximum(excess / np.maximum(rate ** 2 * s_l2, 1e-300), 0.0)
    signal = rate * kappa
    is_stop = np.array([False] + [w in stop for w in reader.vocab])
    return {"songs": int(songs), "stopword_share_of_words": round(float(rate[is_stop].sum()), 4),
            "stopword_share_of_signal": round(float(signal[is_stop].sum() / signal.sum()), 4)}


def model_word_weights(model, vocab_words: list[str], lyrics_path: str | Path, stop: frozenset[str]) -> dict:
    """The bag encoder's word weights (every ensemble member's): the learned weight times the fixed prior
    (``encoder.word_prior``, ``encoder.stopwords``) where the encoder has one, stopwords against the others;
    the training lyrics are read once for all members."""
    import torch
    import torch.nn.functional as F

    def weight(mod) -> np.ndarray:  # (V + 1,)
        w = F.softplus(mod.word_weight.weight.detach().squeeze(-1))
        return (w * mod.word_prior if hasattr(mod, "word_prior") else w).numpy()

    encoders = [(name, weight(mod), float(torch.sigmoid(mod.count_logit.detach())))
                for name, mod in model.named_modules() if hasattr(mod, "word_weight") and hasattr(mod, "count_logit")]
    if not encoders:
        return {"encoders": []}
    size = len(encoders[0][1])
    mass = [np.zeros(size) for _ in encoders]  # per encoder: sum over songs of count^power, per word
    for batch in pq.ParquetFile(lyrics_path).iter_batches(columns=["word_ids", "counts"]):
        w = batch.column(0).values.to_numpy(zero_copy_only=False)
        c = batch.column(1).values.to_numpy(zero_copy_only=False).astype(np.float64)
        for acc, (_, _, power) in zip(mass, encoders):
            acc += np.bincount(w, weights=c ** power, minlength=size)[:size]
    is_stop = np.array([w in stop for w in vocab_words] + [False] * (size - len(vocab_words)))
    real = np.arange(size) > 0
    out = []
    for (name, weight, power), acc in zip(encoders, mass):
        pooled = acc * weight
        out.append({"encoder": name, "count_power": round(power, 3),
                    "weight_stopwords": round(float(weight[is_stop & real].mean()), 3),
                    "weight_other_words": round(float(weight[~is_stop & real].mean()), 3),
                    "weight_range": [round(float(weight[real].min()), 3), round(float(weight[real].max()), 3)],
                    "stopword_share_of_pooled_mass": round(float(pooled[is_stop].sum() / pooled.sum()), 4),
                    **({"style_channel": "the function words weigh 0 here and are read apart, by style_head"}
                       if any(n.startswith(name) and n.endswith("style_mask") for n, _ in model.named_buffers())
                       else {})})
    return {"encoders": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="fused")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--out", default=str(ROOT / "data" / "experiments" / "explain_audit.json"))
    args = ap.parse_args()
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from songsim.core.config import model_section, read_params, section
    from songsim.core.stopwords import FUNCTION_WORDS
    from songsim.models import MODELS
    from songsim.serve.recommender import Recommender

    params = read_params(args.params)
    rec = Recommender.from_params(params, args.model)
    spec = MODELS[args.model]
    enc = spec.lyrics_config(model_section(params, args.model, spec.config).model)
    test = pq.read_table(Path(section(params, "paths").splits) / MODELS[args.model].split_set / "test.parquet")
    songs = sorted(set(test.column("src").to_pylist()) | set(test.column("tgt").to_pylist()))
    songs = [t for t in songs if t in rec.ids]
    rng = np.random.default_rng(args.seed)
    queries = sorted(rng.choice(songs, size=min(args.queries, len(songs)), replace=False).tolist())
    stop = frozenset(ENGLISH_STOP_WORDS)
    pos = test.filter(pc.greater(test.column("score"), 0))
    pairs = list(zip(pos.column("src").to_pylist(), pos.column("tgt").to_pylist()))
    learned = audit(rec, queries, stop, FUNCTION_WORDS, frozenset(pairs + [(b, a) for a, b in pairs]))
    from songsim.serve.explain import Explainer

    rec._explainer = Explainer(**rec.explain_sources)  # the same answers, TF-IDF words (as before issue 34)
    tfidf = audit(rec, queries, stop)
    stems = stop_stems(stop)
    vocab = pq.read_table(section(params, "paths").vocab, columns=["id", "word"])
    vocab_words = [""] * (int(vocab.column("id").to_numpy().max()) + 1)
    for i, w in zip(vocab.column("id").to_pylist(), vocab.column("word").to_pylist()):
        vocab_words[i] = w
    signal = {"world": word_signal(params["raw"]["mxm"], stems)}
    reference = Path(params["fidelity"]["reference_mxm"])
    signal["genuine_sample"] = word_signal(reference, stems) if reference.exists() else f"{reference} absent"
    out = {"model": args.model, "queries": len(queries), "seed": args.seed,
           "stopwords": "sklearn ENGLISH_STOP_WORDS (318 words)",
           "function_words": f"songsim.core.stopwords.FUNCTION_WORDS ({len(FUNCTION_WORDS)} words; what "
                             f"encoder.stopwords: english leaves out)",
           "encoder": {k: getattr(enc, k) for k in ("stopwords", "word_prior")} if enc is not None else None,
           "model_word_effects": learned, "tfidf": tfidf,
           "word_signal": signal,
           "model_word_weights": model_word_weights(rec.model, vocab_words, section(params, "paths").lyrics, stems)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
