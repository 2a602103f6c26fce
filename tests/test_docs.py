"""The docs site and README as a newcomer meets them: the site builds in strict mode (a broken link or anchor
fails), README stays a front door, and what the prose names (params keys, report keys, metric keys, links)
exists. The generated blocks (results, code map, params reference) are checked in test_readme_results.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
MODELS = ("lyrics_classifier", "lyrics_regressor", "audio_siamese", "fused")
FILE_SUFFIXES = (".py", ".json", ".md", ".yaml", ".yml", ".parquet", ".pt", ".npy", ".csv", ".txt", ".db", ".h5",
                 ".zip", ".faiss", ".html", ".tsv", ".sh", ".toml", ".cff", ".svg", ".lock")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose(text: str) -> str:
    """Text outside fenced code blocks (where a span is code, not a name)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def mk_slug(title: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc) gives a heading; GitHub's agrees on plain headings."""
    title = re.sub(r"`", "", title)
    title = re.sub(r"[^\w\s-]", "", title).strip().lower()
    return re.sub(r"[-\s]+", "-", title)


def anchors(path: Path) -> set[str]:
    return {mk_slug(m[1]) for m in re.finditer(r"^#+ (.*)$", prose(path.read_text()), flags=re.M)}


def test_docs_site_builds_in_strict_mode(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    # no -q: mkdocs counts warnings for --strict only at the default log level (-q lets them all pass)
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    site = tmp_path / "site"
    assert (site / "index.html").exists() and (site / "bench.html").exists()
    # the figures are rendered from the committed plot data at build time, and the pages show them
    assert (site / "img" / "curves_fused.svg").read_text().lstrip().startswith("<svg")
    assert 'src="img/reliability_fused.svg"' in (site / "results.html").read_text()


def test_strict_build_fails_on_a_broken_anchor(tmp_path):
    """The property the site relies on: a link to a missing anchor is an error, not a warning."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[gone](other.md#no-such-heading)\n")
    (docs / "other.md").write_text("# Other\n")
    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python/name:", ""))
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump({"site_name": "t", "strict": True,
                                                         "validation": cfg["validation"]}))
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"], cwd=tmp_path,
                         capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert out.returncode != 0 and "no-such-heading" in out.stdout + out.stderr


def test_every_page_is_in_the_nav():
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python/name:", ""))["nav"]
    listed = {next(iter(item.values())) for item in nav}
    assert listed - {"bench.md"} == {p.name for p in DOCS.glob("*.md")}


def test_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    for must in ("No results on the real data yet", "make demo", "make test", "songsim similar", "songsim serve",
                 "<!-- results:glance -->", "dvc exp run", "Troubleshooting", "LICENSE", "CITATION.cff"):
        assert must in text, must
    # the test command CI runs is the one README gives
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(page):
    """Every relative link of README and of the pages names a file that exists, and an anchor its headings
    give (the site build checks the pages too; this also covers README, which GitHub shows)."""
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        path, _, anchor = target.partition("#")
        dest = (page.parent / path) if path else page
        if path == "bench.md":
            bad.append(f"{target} (link ../bench/README.md: GitHub resolves it, the site's hook reads it as bench.md)")
            continue
        if path.startswith("img/") and page.parent == DOCS:
            continue  # figures rendered at build time; the strict build checks them
        if not dest.exists():
            bad.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(target)
    assert not bad, f"{page.name}: links to missing files or anchors: {bad}"


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= _flat(v, key + ".")
        else:
            out[key] = v
        out.setdefault(key, v)
    return out


def params_keys() -> set[str]:
    return set(_flat(yaml.safe_load((ROOT / "params.yaml").read_text())))


def report_paths() -> set[str]:
    """Every key path of the committed reports and metrics, and each of its suffixes."""
    out: set[str] = set()
    files = [*(ROOT / "data" / "reports").glob("*.json"), *(ROOT / "metrics").glob("*.json")]
    for f in files:
        for key in _flat(json.loads(f.read_text())):
            parts = key.split(".")
            out |= {".".join(parts[i:]) for i in range(len(parts))}
    return out


ENCODERS = tuple(f"{m}.model.encoder" for m in MODELS[:3]) + ("fused.model.lyrics", "fused.model.audio")
PARAM_LIKE = re.compile(r"^(<model>|<encoder>|[a-z_]+)(\.(<model>|[a-z_0-9]+))+$")


def named_keys(text: str) -> set[str]:
    """Code spans of the prose that look like a dotted params or report key (`train.seed`, `-S x.y=1`)."""
    out = set()
    for span in re.findall(r"`([^`\n]+)`", prose(text)):
        if span.startswith(("unknown key", "missing key")):
            continue  # an error message quoting a wrong key on purpose
        for token in span.split():
            key = token.split("=", 1)[0].strip(",;:()")
            if key.endswith(FILE_SUFFIXES) or "/" in key or not PARAM_LIKE.match(key):
                continue
            if (ROOT / "src" / "songsim" / (key.replace(".", "/") + ".py")).exists():
                continue  # a module (`synth.lastfm`), not a key
            out.add(key)
    return out


def resolves(key: str, params: set[str], reports: set[str]) -> bool:
    heads = MODELS if key.startswith("<model>.") else ENCODERS if key.startswith("<encoder>.") else (None,)
    for head in heads:
        k = key if head is None else head + key[key.index("."):]
        if k in params or any(p.endswith("." + k) for p in params) or k in reports:
            return True
    return False


def test_keys_named_in_the_docs_exist():
    """A params key named in README or the pages (e.g. `train.rank_weight`, `<model>.optim.members`) is a key
    of params.yaml, and a report key (`retrieval.bootstrap`) is one of the committed reports: renaming either
    without the docs fails here. Names the frozen experiment log uses are held to it too."""
    params, reports = params_keys(), report_paths()
    sections = {k.split(".")[0] for k in params} | {"<model>", "<encoder>", "optim", "model", "encoder"}
    bad = {}
    for page in pages():
        for key in named_keys(page.read_text()):
            if key.split(".")[0] in sections and not resolves(key, params, reports):
                bad.setdefault(page.name, []).append(key)
    assert not bad, f"keys named in the docs that neither params.yaml nor a report has: {bad}"


def test_the_key_check_catches_a_renamed_key():
    params, reports = params_keys(), report_paths()
    assert resolves("train.rank_weight", params, reports) and resolves("<model>.optim.members", params, reports)
    assert resolves("<encoder>.kind", params, reports) and resolves("optim.members", params, reports)
    assert not resolves("train.rank_wieght", params, reports)
    assert not resolves("<model>.optim.member", params, reports)
    assert named_keys("use `-S train.seed=1` and `src/x.py`, not `evaluate.py`") == {"train.seed"}


def test_metric_keys_are_documented():
    """experiments.md lists the compact metrics' keys (`.mae`, `.acc`, ...): each one listed exists in a
    committed metrics/<model>.json, and each key those files hold is listed."""
    held = {k for f in (ROOT / "metrics").glob("*.json") if f.stem in MODELS
            for block in json.loads(f.read_text()).values() for k in block}
    text = (DOCS / "experiments.md").read_text()
    para = text[text.index("The DVC metrics are the models'"):]
    para = para[:para.index("\n\n")]
    listed = set(re.findall(r"`\.([a-z_]+)`", para))
    assert listed == held, f"listed but not held: {listed - held}; held but not listed: {held - listed}"


# ---------------------------------------------------------------- numbers and their sources

# Where each page's figures come from: every number of its prose (outside generated blocks, code and links)
# must appear among these sources' numbers (a JSON value in any of the usual renderings: as is, x100, in
# thousands or millions, rounded to 0-4 decimals; a number written in a text source), or among the numbers
# of the page's own generated blocks. Tests are sources too: a figure a test asserts is checked by it. The
# experiment log is frozen history (dated, each entry naming the commit it ran from) and references.md is
# bibliography; neither is held to it. Small integers (up to 12), years and dates, and the numbers of
# issues, commits, worlds, seeds, epochs and steps are not figures.
BASE_SOURCES = ("params.yaml", "pyproject.toml", "metrics/*.json")
PAGE_SOURCES = {
    "README.md": ("bench/bench_lastfm_full.py", "docs/references.md", "src/songsim/synth/world.py",
                  "src/songsim/core/published.py"),
    "index.md": (),
    "getting-started.md": (),
    "pipeline.md": ("src/songsim/ingest/**/*.py",),
    "data.md": ("bench/README.md", "bench/bench_lastfm_full.py", "data/reports/*.json", "src/songsim/ingest/**/*.py",
                "tests/ingest/readers/test_glove.py"),
    "models.md": ("data/reports/*.json", "data/experiments/robustness*.json", "bench/README.md", "tests/test_docs.py",
                  "tests/ingest/readers/test_glove.py", "tests/core/test_stopwords.py"),
    "adding-a-model.md": ("src/songsim/models/*.py", "tests/test_dvc_e2e.py"),
    "evaluation.md": ("data/reports/evaluate_*.json", "src/songsim/judge/*.py"),
    "glossary.md": ("src/songsim/judge/*.py", "scripts/robustness.py"),
    "results.md": ("data/reports/*.json", "bench/README.md", "docs/references.md",
                   "tests/test_docs.py"),
    "robustness.md": ("data/experiments/robustness*.json", "data/experiments/reader_reference*.json",
                      "scripts/reader_reference.py", "src/songsim/synth/*.py"),
    "serving.md": ("bench/README.md", "data/reports/*.json", "src/songsim/serve/*.py", "src/songsim/cli.py",
                   "tests/serve/test_content.py", "data/experiments/explain_audit.json",
                   "data/experiments/content_roundtrip.json"),
    "experiments.md": ("tests/test_dvc_e2e.py",),
    "scaling.md": ("bench/README.md",),
    "world.md": ("data/reports/*.json", "src/songsim/synth/*.py", "src/songsim/core/published.py", "bench/README.md",
                 "tests/test_docs.py"),
    "params.md": (),
    "testing.md": ("bench/bench_lastfm_full.py", "tests/test_dvc_e2e.py"),
    "troubleshooting.md": (),
}
UNCHECKED = {"experiment-log.md", "references.md"}
NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(%|k\b|M\b| points\b)?")
SCALE = {"": 1.0, "%": 100.0, " points": 100.0, "k": 1e-3, "M": 1e-6}


def figures_of(text: str) -> list[str]:
    """The figures of a page's prose, each with its unit (``-37%`` -> ``37%``, ``56.5M links`` -> ``56.5M``)."""
    text = re.sub(r"<!-- results:([\w-]+) -->.*?<!-- /results:\1 -->", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", prose(text), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"\b(?:19|20)\d\d(?:-\d\d-\d\d)?\b|\b11-785\b", "", text)
    text = re.sub(r"\b(?:issues?|commits?|worlds?|seeds?|steps?|epochs?|items?|lines?) \d+(?:(?:, | and | to |-)\d+)*"
                  r"(?![\d.,]\d)", "", text)
    out = []
    for m in NUMBER.finditer(text):
        tok = m[1].rstrip(",")
        plain = tok.replace(",", "")
        if "." in plain or int(plain) > 12:
            out.append(tok + (m[2] or ""))
    return out


def _renderings(x: float, scale: float) -> set[str]:
    y = abs(x * scale)
    return {f"{round(y, d):.{d}f}" for d in range(5)}


def _numbers(obj, acc: list[float]) -> None:
    if isinstance(obj, dict):
        for v in obj.values():
            _numbers(v, acc)
    elif isinstance(obj, list):
        for v in obj:
            _numbers(v, acc)
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        acc.append(float(obj))


def source_numbers(patterns: tuple[str, ...], extra_text: str = "") -> dict[str, set[str]]:
    """Per unit, the renderings of every number of the sources: a JSON value as a plain number, x100 for a
    percentage or points, /1e3 for k, /1e6 for M; a number written in a text source as written, in any unit."""
    values: list[float] = []
    written: set[str] = set()
    texts = [extra_text]
    for pattern in patterns:
        for f in sorted(ROOT.glob(pattern)):
            if f.suffix == ".json":
                _numbers(json.loads(f.read_text()), values)
            else:
                texts.append(f.read_text())
    for text in texts:
        written |= {m[1].rstrip(",").replace(",", "") for m in NUMBER.finditer(text)}
    pool = {unit: set(written) for unit in SCALE}
    values += [float(w) for w in written]
    for x in values:
        for unit, scale in SCALE.items():
            pool[unit] |= _renderings(x, scale)
    return pool


def unsourced(page: Path) -> list[str]:
    text = page.read_text()
    blocks = "\n".join(m[0] for m in re.finditer(r"<!-- results:([\w-]+) -->.*?<!-- /results:\1 -->", text, re.S))
    pool = source_numbers(BASE_SOURCES + PAGE_SOURCES[page.name], blocks)
    bad = []
    for fig in figures_of(text):
        m = NUMBER.fullmatch(fig)
        if m[1].replace(",", "") not in pool[m[2] or ""]:
            bad.append(fig)
    return bad


def test_every_page_declares_its_sources():
    assert set(PAGE_SOURCES) | UNCHECKED == {p.name for p in pages()}


@pytest.mark.parametrize("page", [p for p in pages() if p.name not in UNCHECKED], ids=lambda p: p.name)
def test_every_figure_has_a_source(page):
    bad = unsourced(page)
    assert not bad, (f"{page.name}: figures found in none of its sources {PAGE_SOURCES[page.name]}: {bad}; "
                     f"generate them, cite the file they come from, or move them to the dated experiment log")


def test_a_figure_that_drifts_from_its_bench_is_caught(tmp_path):
    page = tmp_path / "scaling.md"
    text = (DOCS / "scaling.md").read_text()
    assert "42,920" in text and not unsourced(DOCS / "scaling.md")
    drifted = f"42,{920 - 18}"  # built here, so that this file (a source of some pages) never spells it
    page.write_text(text.replace("42,920", drifted))
    assert unsourced(page) == [drifted]
    assert figures_of("issue 17, worlds 23, 41 and 71, on 2026-12-03: 0.0678 and 4,828 of 5,000 in 4 steps") == [
        "0.0678", "4,828", "5,000"]


@pytest.mark.realdata
def test_figures_quoted_from_the_genuine_samples(realdata):
    """The docs quote a few figures of the genuine samples: they are computed here from the files."""
    import numpy as np

    from songsim.ingest.readers.lastfm import LastfmJsonReader, LastfmTrack
    from songsim.ingest.readers.mxm import MxmTextReader, MxmTrack

    scores = np.array([s for t in LastfmJsonReader(realdata / "lastfm" / "lastfm_subset")
                       if isinstance(t, LastfmTrack) for _, s in t.similars])
    assert f"{100 * (scores >= 0.5).mean():.1f}%" == "5.2%"  # world.md: the share DeepPlaylist calls similar
    assert f"{np.abs(scores - np.median(scores)).mean():.3f}" == "0.090"  # results.md: the train median's MAE
    distinct = np.array([len(t.word_ids) for t in MxmTextReader(realdata / "mxm" / "mxm_dataset_test.excerpt_b.txt")
                         if isinstance(t, MxmTrack)])
    assert (distinct.max(), int(np.percentile(distinct, 99.9))) == (380, 316)  # models.md: bag_words
