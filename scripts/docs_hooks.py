"""MkDocs hooks for the docs site (named in mkdocs.yml): nothing here is typed by hand into docs/.

- ``bench/README.md`` is served as the page ``bench.md`` (one file, read by GitHub and the site alike); the
  pages link it as ``../bench/README.md``, the path GitHub resolves, and the site reads that as ``bench.md``;
- the figures a reader would rather look at than read are rendered at build time, offline (vl-convert),
  from the committed DVC plot data: learning curves (``dvclive/<model>/plots/metrics``), reliability and
  recall@k (``plots/<model>/``), the fidelity quantile curves (``plots/fidelity/``), the learning
  curve over the amount of training data (``plots/learning_curve.csv``). They are generated
  files of the site, never committed, so they cannot go stale.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("lyrics_classifier", "lyrics_regressor", "audio_siamese", "fused")
log = logging.getLogger("mkdocs.hooks.songsim")


def _rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def _chart(title: str, values: list[dict], x: str, y: str, color: str, xtitle: str, ytitle: str,
           xtype: str = "quantitative") -> dict:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title, "width": 420, "height": 260, "data": {"values": values},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": x, "type": xtype, "title": xtitle},
            "y": {"field": y, "type": "quantitative", "title": ytitle},
            "color": {"field": color, "type": "nominal", "title": None},
        },
    }


def learning_curves(model: str) -> dict | None:
    """Validation MAE (accuracy for the classifier) and nDCG@10 per epoch, from DVCLive's TSV files."""
    live = next((ROOT / "dvclive" / model / "plots" / "metrics" / "live").glob("*"), None)
    if live is None:
        return None
    values = []
    for name in ("train_loss", "val_loss", "val_mae", "val_accuracy", "val_ndcg"):
        f = live / f"{name}.tsv"
        if f.exists():
            values += [{"step": int(r["step"]), "value": float(r[name]), "series": name}
                       for r in _rows(f, "\t")]
    if not values:
        return None
    return _chart(f"{model}: per-epoch training and validation metrics", values, "step", "value", "series",
                  "step (epochs; an ensemble's members one after another)", "value")


def reliability(model: str) -> dict | None:
    f = ROOT / "plots" / model / "reliability.csv"
    if not f.exists():
        return None
    rows = _rows(f)
    values = [{"predicted": float(r["predicted"]), "value": float(r["observed"]), "series": "observed"}
              for r in rows] + [{"predicted": float(r["predicted"]), "value": float(r["predicted"]),
                                 "series": "perfect calibration"} for r in rows]
    return _chart(f"{model}: reliability of the served score (test pairs)", values, "predicted", "value",
                  "series", "served score (bin mean)", "mean Last.fm score")


def recall_at_k(model: str) -> dict | None:
    f = ROOT / "plots" / model / "recall_at_k.csv"
    if not f.exists():
        return None
    values = [{"k": int(r["k"]), "recall": float(v), "series": name}
              for r in _rows(f) for name, v in r.items() if name != "k" and v != ""]
    return _chart(f"{model}: recall@k on the test catalog, against its baselines", values, "k", "recall",
                  "series", "k", "recall@k")


def fidelity(statistic: str) -> dict | None:
    f = ROOT / "plots" / "fidelity" / f"{statistic}.csv"
    if not f.exists():
        return None
    values = [{"quantile": float(r["quantile"]), "value": float(r[side]), "series": side}
              for r in _rows(f) for side in ("real", "world")]
    return _chart(f"{statistic}: quantiles, genuine sample vs world", values, "quantile", "value", "series",
                  "quantile", statistic)


def data_curve(metric: str, title: str) -> dict | None:
    """The regression models' test ``metric`` against the share of training pairs (``plots/learning_curve.csv``,
    ``scripts/learning_curve.py``)."""
    f = ROOT / "plots" / "learning_curve.csv"
    if not f.exists():
        return None
    values = [{"fraction": float(r["data_fraction"]), "value": float(r[f"{m}_{metric}"]), "series": m}
              for r in _rows(f) for m in MODELS[1:]]
    return _chart(title, values, "fraction", "value", "series", "splits.data_fraction (share of the training pairs)",
                  title.split(":")[0])


def figures() -> dict[str, dict]:
    """Every figure of the site by file name (``img/<name>.svg``), as a Vega-Lite spec."""
    out: dict[str, dict | None] = {}
    for m in MODELS:
        out[f"curves_{m}"] = learning_curves(m)
        out[f"reliability_{m}"] = reliability(m)
        out[f"recall_{m}"] = recall_at_k(m)
    out["learning_curve_ndcg"] = data_curve("ndcg", "test-catalog nDCG@10: against the training pairs kept")
    out["learning_curve_mae"] = data_curve("mae", "test MAE: against the training pairs kept")
    for f in sorted((ROOT / "plots" / "fidelity").glob("*.csv")):
        out[f"fidelity_{f.stem}"] = fidelity(f.stem)
    return {k: v for k, v in out.items() if v is not None}


BENCH_LINK = re.compile(r"\]\(\.\./bench/README\.md(#[^)]*)?\)")


def on_page_markdown(markdown: str, page, config, files) -> str:
    """A page's links to ``../bench/README.md`` (what GitHub resolves) lead to the site's ``bench.md``."""
    return BENCH_LINK.sub(lambda m: f"](bench.md{m[1] or ''})", markdown)


def on_files(files: Files, config) -> Files:
    bench = (ROOT / "bench" / "README.md").read_text()
    # bench/README's own relative links point from bench/; on the site it sits beside the docs pages
    bench = re.sub(r"\]\(\.\./README\.md(#[^)]*)?\)", r"](index.md)", bench)
    files.append(File.generated(config, "bench.md", content=bench))
    import vl_convert as vlc  # a main dependency (the offline `dvc plots show` page uses it too)

    for name, spec in figures().items():
        files.append(File.generated(config, f"img/{name}.svg", content=vlc.vegalite_to_svg(spec)))
    return files
