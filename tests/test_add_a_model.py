"""docs/adding-a-model.md, followed: its titled code blocks are applied (the Python ones to the model modules,
restored after each test; the YAML ones to copies of params.yaml and dvc.yaml), the tests that check the
registry against params.yaml and dvc.yaml pass on the result and fail without any one of its required steps,
and the fifth model trains, evaluates, embeds and indexes on a tiny world (the CLI code path of the stages)."""

import __future__

import ast
import json
import re
import textwrap

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
    for stage in ("synth", "extract-pairs", "expand-lyrics", "chunk-audio", "build-splits"):
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
