"""CPU threads: several trainings on one machine share the cores."""

import os
import subprocess
import sys

import torch

from songsim.learn.threads import ENV_DIR, CpuShare, available_cores


def test_auto_threads_split_the_cores_between_running_trainings(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_DIR, str(tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / dead).touch()  # a training that died without unregistering
    with CpuShare(0) as share:
        assert share.running() == 1 and not (tmp_path / dead).exists()
        assert share.threads() == available_cores()
        (tmp_path / str(os.getppid())).touch()  # another live training
        assert share.running() == 2 and share.threads() == max(1, available_cores() // 2)
        assert share.apply() == torch.get_num_threads()
    assert not (tmp_path / str(os.getpid())).exists()


def test_explicit_counts_win(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_DIR, str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    with CpuShare(0) as share:
        assert share.threads() == 3
    with CpuShare(1) as share:
        assert share.threads() == 1


def test_an_unwritable_registry_never_fails_a_training(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(ENV_DIR, str(blocker / "sub"))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with CpuShare(0) as share:
        assert share.threads() == available_cores()
