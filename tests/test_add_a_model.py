"""docs/adding-a-model.md, followed: its titled code blocks are applied (the Python ones to the model modules,
restored after each test; the YAML ones to copies of params.yaml and dvc.yaml), the tests that check the
registry against params.yaml and dvc.yaml pass on the result and fail without any one of its required steps,
and the fifth model trains, evaluates, embeds and indexes on a tiny world (the CLI code path of the stages).
The Python blocks pasted into copies of their files pass ruff; marked slow, the page's `dvc repro` commands
run on a copy of the project with every step written into its files."""

import __future__

import ast
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from songsim.core.checkpoint import load_checkpoint
from songsim.core.config import ConfigError, load_params
from songsim.models import configs, model_configs, nets, registry
from tests.conftest import ROOT, shrink_params

PAGE = ROOT / "docs" / "adding-a-model.md"
NAME = "lyrics_bag_linear"
FENCE = re.compile(r'^```(\w+) title="([^"]+)"\n(.*?)^```$', re.M | re.S)
# where the page puts code: file, or "file: place in it" (a dotted key path for the YAML files)
PYTHON = ("src/songsim/models/configs.py", "src/songsim/models/nets.py: imports", "src/songsim/models/nets.py",
          "src/songsim/models/nets.py: _CLASSES", "src/songsim/models/registry.py: imports",
          "src/songsim/models/registry.py: MODELS")
REQUIRED_YAML = ("params.yaml", "dvc.yaml: stages.train.foreach", "dvc.yaml: stages.evaluate.foreach",
                 "dvc.yaml: stages.embed.foreach", "dvc.yaml: stages.index.foreach", "dvc.yaml: artifacts")
OPTIONAL_YAML = ("dvc.yaml: plots.loss_regressors.y",)


def page_blocks() -> dict[str, str]:
    """Title -> code of each titled fenced block of the page, in page order."""
    found = FENCE.findall(PAGE.read_text())
    blocks = {title: code for _, title, code in found}
    assert len(blocks) == len(found), "two blocks of the page share a title"
    return blocks


def _exec(code: str, module, where: str) -> dict:
    """Run ``code`` as if written into ``module``'s source (same globals, its ``annotations`` future);
    returns the names it defined."""
    ns = dict(vars(module))
    exec(compile(code, f"{PAGE}: {where}", "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True), ns)
    return {k: v for k, v in ns.items() if k not in vars(module) or v is not vars(module)[k]}


@pytest.fixture
def fifth_model(monkeypatch) -> registry.ModelSpec:
    """Steps 1-3 of the page: its config, module and ModelSpec added to the (restored afterwards) modules."""
    b = page_blocks()
    for k, v in _exec(b["src/songsim/models/configs.py"], configs, "configs.py").items():
        monkeypatch.setattr(configs, k, v, raising=False)
    for title in PYTHON[1:4]:
        for k, v in _exec(b[title], nets, title).items():
            monkeypatch.setattr(nets, k, v, raising=False)
    for k, v in _exec(b["src/songsim/models/registry.py: imports"], registry, "registry imports").items():
        monkeypatch.setattr(registry, k, v, raising=False)
    [spec] = eval(b["src/songsim/models/registry.py: MODELS"].strip(), dict(vars(registry)))  # a tuple entry
    monkeypatch.setitem(registry.MODELS, spec.name, spec)
    return spec


def apply_yaml(docs: dict[str, dict], title: str, code: str) -> None:
    """Merge a YAML block into the copy of the file its title names, at the key path after the colon
    (``plots`` is a list of one-key mappings)."""
    file, _, where = title.partition(": ")
    node = docs[file]
    for part in where.split(".") if where else []:
        node = next(item[part] for item in node if part in item) if isinstance(node, list) else node[part]
    node.update(yaml.safe_load(textwrap.dedent(code)))


def edited_copies(titles=REQUIRED_YAML + OPTIONAL_YAML) -> dict[str, dict]:
    docs = {f: yaml.safe_load((ROOT / f).read_text()) for f in ("params.yaml", "dvc.yaml")}
    b = page_blocks()
    for title in titles:
        apply_yaml(docs, title, b[title])
    return docs


def consistency_checks(docs: dict[str, dict], tmp_path) -> None:
    """The repository's tests that hold the registry against dvc.yaml and params.yaml, on the copies."""
    from tests import test_dag
    from tests.models import test_registry

    dvc, params = docs["dvc.yaml"], docs["params.yaml"]
    test_dag.test_model_stages_match_registry(dvc)
    test_dag.test_regression_models_are_embedded_and_indexed(dvc)
    test_dag.test_every_model_is_a_declared_artifact(dvc)
    test_dag.test_templates_and_params_exist(dvc, params)
    path = tmp_path / "params.yaml"  # tests/core/test_config.py::test_repo_params_load, on the copy
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    load_params(path, model_configs())
    for name in registry.MODELS:
        test_registry.test_every_model_builds_and_exposes_its_encoders(name)
    test_registry.test_metric_prefixes_are_short_and_unique()


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace lines ``[start, end)`` (1-based) of ``text`` by each edit's code; edits must not overlap."""
    lines = text.splitlines(keepends=True)
    for start, end, code in sorted(edits, reverse=True):
        lines[start - 1:end - 1] = [code if code.endswith("\n") else code + "\n"]
    return "".join(lines)


def _node(tree: ast.Module, test) -> ast.stmt:
    [node] = [n for n in tree.body if test(n)]
    return node


def _imports_configs(n) -> bool:
    return isinstance(n, ast.ImportFrom) and n.module == "songsim.models.configs"


def write_edited_sources(dst: Path) -> list[Path]:
    """Steps 1-3 as edits of the files, written under ``dst`` (same relative paths): the config appended to
    configs.py; in nets.py the import replaced, the class after ``FusedModel``, ``_CLASSES`` replaced; in
    registry.py the import replaced and the entry appended to ``MODELS``. Returns the files written."""
    b = page_blocks()
    out = []
    for rel in ("src/songsim/models/configs.py", "src/songsim/models/nets.py", "src/songsim/models/registry.py"):
        text = (ROOT / rel).read_text()
        tree = ast.parse(text)
        if rel.endswith("configs.py"):
            text = text.rstrip("\n") + "\n\n\n" + b[rel]
        elif rel.endswith("nets.py"):
            imp = _node(tree, _imports_configs)
            fused = _node(tree, lambda n: isinstance(n, ast.ClassDef) and n.name == "FusedModel")
            classes = _node(tree, lambda n: isinstance(n, ast.AnnAssign) and n.target.id == "_CLASSES")
            text = _splice(text, [(imp.lineno, imp.end_lineno + 1, b[f"{rel}: imports"]),
                                  (fused.end_lineno + 1, fused.end_lineno + 1, "\n\n" + b[rel]),
                                  (classes.lineno, classes.end_lineno + 1, b[f"{rel}: _CLASSES"])])
        else:
            imp = _node(tree, _imports_configs)
            models = _node(tree, lambda n: isinstance(n, ast.AnnAssign) and n.target.id == "MODELS")
            last = models.value.generators[0].iter.elts[-1]  # {s.name: s for s in (ModelSpec(...), ...)}
            entry = textwrap.indent(b[f"{rel}: MODELS"], " " * last.col_offset)
            text = _splice(text, [(imp.lineno, imp.end_lineno + 1, b[f"{rel}: imports"]),
                                  (last.end_lineno + 1, last.end_lineno + 1, entry)])
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        (dst / rel).write_text(text)
        out.append(dst / rel)
    return out


def _config_imports(module) -> set[str]:
    tree = ast.parse(open(module.__file__).read())
    return {a.name for node in tree.body if isinstance(node, ast.ImportFrom) and node.module == "songsim.models.configs"
            for a in node.names}


def test_the_page_has_a_block_for_every_step():
    b = page_blocks()
    assert set(b) == set(PYTHON + REQUIRED_YAML + OPTIONAL_YAML)
    # the import blocks are the modules' imports as they are, plus the new config
    for title, module in (("src/songsim/models/nets.py: imports", nets),
                          ("src/songsim/models/registry.py: imports", registry)):
        [imp] = ast.parse(b[title]).body
        assert {a.name for a in imp.names} == _config_imports(module) | {"LyricsBagLinearConfig"}, title
    text = PAGE.read_text()
    for cmd in (f"dvc repro train@{NAME} evaluate@{NAME}", f"dvc exp run -S {NAME}.", f"dvc repro index@{NAME}"):
        assert cmd in text
    assert "](" not in text.replace("](#", ""), "links to other pages: none exist yet"


def test_the_page_code_written_into_the_files_is_lint_clean(tmp_path):
    """The blocks of steps 1-3 pasted where the page says: the files still pass the project's ruff rules."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    files = write_edited_sources(tmp_path)
    out = subprocess.run([ruff, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), *map(str, files)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_following_the_page_passes_the_consistency_checks(fifth_model, tmp_path):
    assert fifth_model.name == NAME and set(nets._CLASSES) >= {"LyricsPairModel", "LyricsBagLinear"}
    assert registry.get(NAME) is fifth_model and model_configs()[NAME] is configs.LyricsBagLinearConfig
    consistency_checks(edited_copies(), tmp_path)


@pytest.mark.parametrize("left_out", REQUIRED_YAML)
def test_every_required_step_is_checked(fifth_model, tmp_path, left_out):
    """Leave out one step of the page and a consistency test fails: its list of steps is what they check."""
    docs = edited_copies(tuple(t for t in REQUIRED_YAML if t != left_out))
    with pytest.raises((AssertionError, KeyError, ConfigError)):
        consistency_checks(docs, tmp_path)


def test_the_fifth_model_trains_evaluates_and_serves(fifth_model, tmp_path, base_params):
    """The page's params section on a tiny world (the other models shrunk as in every pipeline test), then the
    stages of the page's foreach lists for the new model."""
    from songsim.cli import run

    docs = edited_copies()
    params = shrink_params(base_params, tmp_path)
    params[NAME] = docs["params.yaml"][NAME]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("synth", "extract-pairs", "expand-lyrics", "list-msd", "chunk-audio", "build-splits"):
        run(stage, str(path))
    stages = [s for s, body in docs["dvc.yaml"]["stages"].items() if NAME in body.get("foreach", {})]
    assert stages == ["train", "evaluate", "embed", "index"]
    for stage in stages:
        run(stage, str(path), NAME)

    p = params["paths"]
    state = torch.load(f"{p['models']}/{NAME}.pt", weights_only=True)
    assert state["model"] == NAME and state["members"] == 1
    model, _ = load_checkpoint(f"{p['models']}/{NAME}.pt")
    assert type(model) is nets.LyricsBagLinear and len(model.decoder.net) == 1  # one linear unit
    report = json.loads(open(f"{p['reports']}/evaluate_{NAME}.json").read())
    assert report["model"] == NAME and report["task"] == "regression" and report["set"] == "lyrics"
    for k in ("mae", "rmse", "pearson", "ndcg@10"):
        assert k in report["test"] and k in report["val"], k
    assert {"train_mean", "train_median", "tfidf_cosine", "oracle", "latent_ceiling"} <= set(report["baselines"])
    assert report["baselines"]["train_median"]["n"] == report["test"]["n"] > 0
    assert "test_multimodal" in report and "model" in report["retrieval"]
    [(short, m)] = json.loads(open(f"{p['metrics']}/{NAME}.json").read()).items()
    assert short == fifth_model.short and m["mae"] == report["test"]["mae"]
    assert set(m) == {"mae", "rmse", "base_mae", "med_mae", "ndcg"}
    for f in ("predictions.csv", "errors.csv", "confusion.csv", "recall_at_k.csv", "reliability.csv"):
        assert open(f"{p['plots']}/{NAME}/{f}").readline().strip(), f
    # the optional plots block names the curves DVCLive wrote
    for tsv in docs["dvc.yaml"]["plots"][next(i for i, x in enumerate(docs["dvc.yaml"]["plots"])
                                              if "loss_regressors" in x)]["loss_regressors"]["y"]:
        if NAME in tsv:
            assert open(tsv.replace("${paths.live}", p["live"])).readline().startswith("step"), tsv
    assert json.loads(open(f"{p['embeddings']}/{NAME}/manifest.json").read())["count"] > 0
    assert any((tmp_path / p["index"] / NAME).iterdir())


@pytest.mark.slow
def test_the_page_commands_run_on_a_copy_of_the_project(tmp_path, base_params):
    """The page's steps written into a copy of the project (the model modules edited, params.yaml and dvc.yaml
    with the page's blocks, the tiny world), then the page's commands with the real `dvc`."""
    from tests.test_dvc_e2e import _sh

    for name in ("stages", "src"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    write_edited_sources(tmp_path)
    docs = edited_copies()
    params = shrink_params(base_params, None)
    params[NAME] = docs["params.yaml"][NAME]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(docs["dvc.yaml"], sort_keys=False))
    _sh(tmp_path, "dvc", "init", "-q", "--no-scm")
    # each stage script puts its own checkout's src first on sys.path: the stages run the edited copy
    first = _sh(tmp_path, "dvc", "repro", f"train@{NAME}", f"evaluate@{NAME}")
    ran = re.findall(r"Running stage '([^']+)'", first.stdout)
    assert ran[-2:] == [f"train@{NAME}", f"evaluate@{NAME}"] and not any("@" in s for s in ran[:-2]), ran
    [(short, m)] = json.loads((tmp_path / "metrics" / f"{NAME}.json").read_text()).items()
    assert short == "lbl" and m["mae"] > 0
    second = _sh(tmp_path, "dvc", "repro", f"index@{NAME}")
    # list_msd runs at every dvc repro (always_changed); its listing is unchanged, so nothing of the world re-runs
    assert re.findall(r"Running stage '([^']+)'", second.stdout) == ["list_msd", f"embed@{NAME}", f"index@{NAME}"]
    state = torch.load(tmp_path / "models" / f"{NAME}.pt", weights_only=True)
    assert state["model"] == NAME
