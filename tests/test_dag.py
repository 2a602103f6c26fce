"""dvc.yaml and params.yaml agree: every templated value and param exists, stages answer --help."""

import re
import subprocess
import sys

import pytest
import yaml

from songsim.models import MODELS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def dvc_yaml():
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


@pytest.fixture(scope="module")
def params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def _lookup(params, dotted):
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def _stage_bodies(dvc_yaml):
    for name, st in dvc_yaml["stages"].items():
        if "foreach" in st:
            for key, item in st["foreach"].items():
                yield f"{name}@{key}", st["do"], key, item
        else:
            yield name, st, None, None


def test_templates_and_params_exist(dvc_yaml, params):
    for _, body, key, item in _stage_bodies(dvc_yaml):
        text = yaml.safe_dump(body)
        text = text.replace("${key}", key or "").replace("${item.set}", (item or {}).get("set", ""))
        for ref in re.findall(r"\$\{([^}]+)\}", text):
            _lookup(params, ref)  # raises KeyError naming the missing param
        for p in body.get("params", []):
            p = p.replace("${key}", key or "")
            _lookup(params, p)


def _trained(dvc_yaml) -> dict[str, str]:
    """``{model: split set}`` of every training stage: the ``train`` foreach's items, and a model's own
    ``train_<model>`` stage (one that depends on another model's checkpoint, which an item cannot add)."""
    out = {k: v["set"] for k, v in dvc_yaml["stages"]["train"]["foreach"].items()}
    for name, st in dvc_yaml["stages"].items():
        if name.startswith("train_"):
            model = name.removeprefix("train_")
            assert model not in out and st["cmd"] == f"python stages/train.py --model {model}", name
            out[model] = re.search(r"\$\{paths\.splits\}/(\w+)/train\.parquet", " ".join(st["deps"])).group(1)
    return out


def test_model_stages_match_registry(dvc_yaml):
    want = {n: s.split_set for n, s in MODELS.items()}
    assert _trained(dvc_yaml) == want
    assert {k: v["set"] for k, v in dvc_yaml["stages"]["evaluate"]["foreach"].items()} == want


def test_train_fused_is_the_train_stage_plus_the_audio_model(dvc_yaml):
    """``train_fused`` is ``train@fused`` written out (so the two cannot drift), plus the audio model's
    checkpoint its audio tower starts from and the split params the train stage checks for that."""
    text = yaml.safe_dump(dvc_yaml["stages"]["train"]["do"])
    body = yaml.safe_load(text.replace("${key}", "fused").replace("${item.set}", MODELS["fused"].split_set))
    own = dvc_yaml["stages"]["train_fused"]
    assert own["cmd"] == body["cmd"] and own["outs"] == body["outs"] and own["metrics"] == body["metrics"]
    assert [d for d in own["deps"] if d not in body["deps"]] == ["${paths.models}/audio_siamese.pt"]
    assert set(body["deps"]) <= set(own["deps"])
    assert [p for p in own["params"] if p not in body["params"]] == ["splits.mode", "splits.audio_ratios",
                                                                     "splits.catalog_ratios"]
    assert set(body["params"]) <= set(own["params"])


def test_regression_models_are_embedded_and_indexed(dvc_yaml):
    """Every regression model serves (serve.retrieval offers them all as the models that can answer a song),
    so each has an embed and an index stage; the classifier has neither."""
    regression = {n: s.split_set for n, s in MODELS.items() if s.task == "regression"}
    for stage in ("embed", "index"):
        fe = dvc_yaml["stages"][stage]["foreach"]
        assert {k: v["set"] for k, v in fe.items()} == regression, stage


def test_every_model_is_a_declared_artifact(dvc_yaml):
    arts = dvc_yaml["artifacts"]
    assert set(arts) == set(MODELS)
    for name, spec in MODELS.items():
        a = arts[name]
        assert a["path"] == f"${{paths.models}}/{name}.pt" and a["type"] == "model" and a["desc"]
        modalities = [m for m in ("lyrics", "audio") if getattr(spec, f"uses_{m}")]
        assert a["labels"] == [spec.task, *modalities]
        # the artifact is what the model's train stage writes
        assert a["path"] in dvc_yaml["stages"]["train"]["do"]["outs"][0].replace("${key}", name)


def test_every_stage_has_a_script_that_answers_help(dvc_yaml):
    scripts = set()
    for _, body, _, _ in _stage_bodies(dvc_yaml):
        m = re.match(r"python (stages/\w+\.py)", body["cmd"])
        assert m, body["cmd"]
        scripts.add(m.group(1))
        assert m.group(1) in body["deps"]
    assert scripts == {f"stages/{p.name}" for p in (ROOT / "stages").glob("*.py")}
    for s in sorted(scripts):
        out = subprocess.run([sys.executable, str(ROOT / s), "--help"], capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 0 and "--params" in out.stdout, s


def test_cli_help_lists_every_stage():
    out = subprocess.run([sys.executable, "-m", "songsim.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for sub in ("synth", "extract-pairs", "expand-lyrics", "chunk-audio", "build-splits", "train", "evaluate"):
        assert sub in out.stdout


def test_library_never_reads_params_yaml():
    for f in (ROOT / "src" / "songsim").rglob("*.py"):
        if f.name == "entry.py":  # the entry-point layer: its --params default names the file
            continue
        assert "params.yaml" not in f.read_text().replace("``params.yaml``", ""), f


def test_deps_are_unique_and_exist(dvc_yaml):
    for name, body, _, _ in _stage_bodies(dvc_yaml):
        deps = body["deps"]
        assert len(deps) == len(set(deps)), name
        for d in deps:
            if d.startswith(("src/", "stages/")):
                assert (ROOT / d).exists(), (name, d)


def test_the_msd_tree_is_depended_on_through_its_listing(dvc_yaml):
    """A million-file tree as a DVC directory dependency costs every `dvc status` a stat and hash of each file:
    the only stage that reads `raw.msd` itself is list_msd (always_changed, a params dependency on the
    path), and the stages that read the tree depend on its listing."""
    st = dvc_yaml["stages"]
    readers = {name for name, body in st.items() if "${raw.msd}" in body.get("deps", [])}
    assert readers == set()
    assert st["list_msd"]["always_changed"] is True and "raw.msd" in st["list_msd"]["params"]
    assert "${paths.msd_listing}" in st["list_msd"]["outs"]
    for name in ("chunk_audio", "fidelity"):
        assert "${paths.msd_listing}" in st[name]["deps"], name
    # it comes after the world is written, also where synth_world is frozen: world.json is kept in git
    assert "${paths.raw_dir}/world.json" in st["list_msd"]["deps"]
    assert {"${paths.raw_dir}/world.json": {"cache": False}} in st["synth_world"]["outs"]
