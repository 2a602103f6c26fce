"""The CLI and the stage scripts come from one stage table: both spellings, help naming reads/writes."""

import subprocess
import sys

import pytest
import yaml

from songsim.cli import main, run
from songsim.core.config import ConfigError
from songsim.stage_table import STAGES, get
from tests.conftest import ROOT


def test_both_spellings_name_the_same_stage():
    for spec in STAGES:
        assert get(spec.name) is get(spec.alias) is spec
    with pytest.raises(KeyError, match="synth_world"):
        get("nope")


@pytest.mark.parametrize("argv", [["extract-pairs", "--help"], ["extract_pairs", "--help"]])
def test_cli_help_says_what_the_stage_reads_and_writes(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "reads: raw.lastfm = data/raw/lastfm" in out and "paths.pairs = data/interim/pairs.parquet" in out


def test_stage_script_help_matches():
    out = subprocess.run([sys.executable, "stages/train.py", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "--model" in out.stdout and "raw.glove" in out.stdout


def test_unknown_model_is_a_config_error_and_exit_code_2(tmp_path, base_params):
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(base_params))
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        run("train", str(p), "nope")
    assert main(["evaluate", "--params", str(p), "--model", "nope"]) == 2


def test_done_line_shows_scalars_and_short_lists_not_tables():
    from songsim.entry import _scalar_or_short_list

    report = {"seconds": 1.5, "best_epoch": [4, 6], "model": "fused", "param_counts": {"total": 3},
              "history": [{"epoch": 1}], "curve": list(range(20))}
    assert [k for k, v in report.items() if _scalar_or_short_list(v)] == ["seconds", "best_epoch", "model"]
