"""params.yaml is written the way `dvc exp run -S` writes it back, so an experiment's params diff is the
changed line alone (flow lists, comments on lists and long lines would all be rewritten)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _sh(cwd, *cmd):
    env = {**os.environ, **ENV, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=True).stdout


CHANGES = [("train.seed=1", "seed: 1"), ("fused.optim.lr=0.003", "lr: 0.003"),
           ("evaluate.max_queries=10", "max_queries: 10")]


@pytest.mark.parametrize("change,key", CHANGES)
def test_dvcs_params_writer_changes_one_line(tmp_path, change, key):
    """The writer ``dvc exp run -S`` applies (``dvc.utils.hydra.apply_overrides``), without git or an experiment."""
    import difflib

    from dvc.utils.hydra import apply_overrides

    before = (ROOT / "params.yaml").read_text().splitlines()
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    apply_overrides(tmp_path / "params.yaml", [change])
    after = (tmp_path / "params.yaml").read_text().splitlines()
    diff = [x for x in difflib.unified_diff(before, after, lineterm="", n=0)
            if x[:1] in "+-" and not x.startswith(("+++", "---"))]
    assert len(diff) == 2 and diff[1].lstrip("+").strip().startswith(key), diff


@pytest.mark.slow
@pytest.mark.parametrize("change,key", CHANGES)
def test_an_experiment_changes_one_line_of_params(tmp_path, change, key):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    section = change.split(".")[0]
    (tmp_path / "dvc.yaml").write_text(f"stages:\n  s:\n    cmd: echo ok > out.txt\n    params: [{section}]\n"
                                       "    outs: [out.txt]\n")
    _sh(tmp_path, "git", "init", "-q")
    _sh(tmp_path, "dvc", "init", "-q")
    _sh(tmp_path, "git", "add", "-A")
    _sh(tmp_path, "git", "commit", "-qm", "init")
    _sh(tmp_path, "dvc", "exp", "run", "-q", "-S", change)
    diff = [x for x in _sh(tmp_path, "git", "diff", "-U0", "params.yaml").splitlines()
            if x[:1] in "+-" and not x.startswith(("+++", "---"))]
    assert len(diff) == 2 and diff[1].lstrip("+").strip().startswith(key), diff
