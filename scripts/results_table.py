"""Print a Markdown table of every model's test metrics next to its baselines (from the evaluation
reports, data/reports/evaluate_<model>.json)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MODELS = ("lyrics_classifier", "lyrics_regressor", "audio_siamese", "fused")


def fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reports", default="data/reports")
    args = ap.parse_args()
    m = {k: json.loads((Path(args.reports) / f"evaluate_{k}.json").read_text()) for k in MODELS}
    print("| model | test set | pairs | MAE | RMSE | Spearman | nDCG@10 | train-mean MAE | train-median MAE | "
          "TF-IDF MAE | mean-audio MAE | oracle MAE | MAE vs train mean | MAE vs train median |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in MODELS[1:]:
        d, b = m[k], m[k]["baselines"]
        t = d["test"]
        print(f"| {k} | {d['set']} | {t['n']} | {fmt(t['mae'])} | {fmt(t['rmse'])} | {fmt(t['spearman'])} | "
              f"{fmt(t['ndcg@10'])} | {fmt(b['train_mean']['mae'])} | {fmt(b['train_median']['mae'])} | "
              f"{fmt(b['tfidf_cosine']['mae'])} | {fmt(b.get('audio_mean_cosine', {}).get('mae'))} | "
              f"{fmt(b.get('oracle', {}).get('mae'))} | {-100 * d['mae_improvement_over_train_mean']:+.0f}% | "
              f"{-100 * d['mae_improvement_over_train_median']:+.0f}% |")
        if "test_multimodal" in d:
            t = d["test_multimodal"]
            print(f"| {k} | multimodal | {t['n']} | {fmt(t['mae'])} | {fmt(t['rmse'])} | {fmt(t['spearman'])} | "
                  f"{fmt(t['ndcg@10'])} | | | | | | | |")
    c = m["lyrics_classifier"]
    t, b = c["test"], c["baselines"]
    print()
    print("| classifier | pairs | accuracy | F1 | ROC-AUC | majority accuracy | TF-IDF accuracy | gain over majority |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| lyrics_classifier | {t['n']} | {fmt(t['accuracy'])} | {fmt(t['f1'])} | {fmt(t['roc_auc'])} | "
          f"{fmt(b['majority']['accuracy'])} | {fmt(b['tfidf_cosine']['accuracy'])} | "
          f"{100 * c['gain_over_majority_accuracy']:+.1f} points |")
    print()
    print("| ranking (test catalog) | queries | candidates | recall@10 | nDCG@10 | MAP@100 | MRR | ROC-AUC | "
          "random nDCG@10 | TF-IDF nDCG@10 | mean-audio nDCG@10 | oracle nDCG@10 | served vs exhaustive R@10 "
          "(C = 20 / 100) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in MODELS:
        r = m[k].get("retrieval")
        if not r or "model" not in r:
            continue
        x, b, s = r["model"], r["baselines"], r["served_vs_exhaustive_recall@10"]
        served = " / ".join(fmt(s.get(str(c))) for c in (20, 100))
        print(f"| {k} | {r['queries']} | {r['candidates_per_query']} | {fmt(x['recall@10'])} | {fmt(x['ndcg@10'])} | "
              f"{fmt(x['map@100'])} | {fmt(x['mrr'])} | {fmt(x['roc_auc'])} | {fmt(b['random']['ndcg@10'])} | "
              f"{fmt(b['tfidf_cosine']['ndcg@10'])} | {fmt(b.get('audio_mean_cosine', {}).get('ndcg@10'))} | "
              f"{fmt(b.get('oracle', {}).get('ndcg@10'))} | {served} |")


if __name__ == "__main__":
    main()
