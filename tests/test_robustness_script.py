"""scripts/robustness.py: a harness resumed a world at a time is summarised over every run it recorded."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import robustness  # noqa: E402


@pytest.fixture()
def harness(tmp_path, monkeypatch):
    """The script's main() against an experiments folder in tmp_path: run() records its runs as files, the
    summary lists the runs it was given."""
    monkeypatch.setattr(robustness.rt, "EXPERIMENTS", tmp_path)
    ran = []

    def fake_run(worlds, seeds, size, prefix="rob", overrides=()):
        names = [f"{prefix}-w{w}-s{s}" for w in worlds for s in seeds if w != 99]  # world 99 fails
        for n in names:
            (tmp_path / f"{n}.json").write_text("{}")
        ran.extend(names)
        return names

    monkeypatch.setattr(robustness, "run", fake_run)
    monkeypatch.setattr(robustness, "summarise", lambda names: {"runs": names})
    monkeypatch.setattr(robustness.rt, "robustness_table", lambda summary: "")

    def main(*argv):
        monkeypatch.setattr(sys, "argv", ["robustness.py", *argv])
        robustness.main()
        return ran, json.loads(robustness.summary_path(argv[argv.index("--prefix") + 1]).read_text())["runs"]

    return tmp_path, main


def test_a_later_world_joins_the_runs_already_recorded(harness):
    folder, main = harness
    (folder / "dense-w7-s0.json").write_text("{}")
    (folder / "other-w13-s0.json").write_text("{}")  # another harness's run stays out
    (folder / "dense-w7.json").write_text("{}")  # not a harness run's name
    ran, summarised = main("--prefix", "dense", "--worlds", "13", "--train-seeds", "1", "0")
    assert ran == ["dense-w13-s1", "dense-w13-s0"]
    assert summarised == ["dense-w7-s0", "dense-w13-s0", "dense-w13-s1"]  # by world, then train seed


def test_a_run_that_fails_now_is_left_out_and_named_even_with_an_earlier_record(harness):
    folder, main = harness
    (folder / "dense-w99-s0.json").write_text("{}")  # recorded by an earlier invocation
    with pytest.raises(SystemExit, match="1 run.s. failed, left out of the summary: dense-w99-s0"):
        main("--prefix", "dense", "--worlds", "7", "99")
    summary = json.loads(robustness.summary_path("dense").read_text())
    assert summary["runs"] == ["dense-w7-s0"]


def test_summarise_alone_runs_nothing_and_an_empty_harness_is_an_error(harness):
    folder, main = harness
    (folder / "dense-w7-s0.json").write_text("{}")
    ran, summarised = main("--prefix", "dense", "--summarise")
    assert ran == [] and summarised == ["dense-w7-s0"]
    with pytest.raises(SystemExit, match="no recorded runs named none-w"):
        main("--prefix", "none", "--summarise")


def test_an_earlier_failed_task_of_the_same_name_does_not_hide_this_run(monkeypatch):
    """The queue keeps every task it ever ran: a failed run of a name queued again must not mark the new,
    successful run as failed (it did, once: world 13 of the medium harness was left uncollected)."""
    old = "55770ce  dense-w13-s0     Dec 06, 2026  Failed"
    calls = []

    def fake(cmd, **kw):
        calls.append(cmd)
        queued = any(c[:3] == ["dvc", "exp", "run"] for c in calls)
        lines = ["Task     Name   Created   Status", old] + (["461e02c  dense-w13-s0     02:52 AM      Success"]
                                                          if queued else []) + ["", "Worker status: 0 active"]
        return type("Done", (), {"stdout": "\n".join(lines) + "\n", "returncode": 0})()

    monkeypatch.setattr(robustness.subprocess, "run", fake)
    collected = []
    monkeypatch.setattr(robustness.rt, "collect", collected.extend)
    assert robustness.run([13], [0], "medium", "dense") == ["dense-w13-s0"]
    assert collected == ["dense-w13-s0"]
