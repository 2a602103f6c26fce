"""Data-parallel training: 2 gloo processes on CPU give the 1-process result at the same global batch; the
process-group helpers of songsim.learn.distributed, with one process and with two."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml

from songsim.core.checkpoint import load_checkpoint
from songsim.core.config import ConfigError
from songsim.learn import distributed
from songsim.learn.batches import SongStore, plan_epoch
from songsim.learn.loop import prepare, train_steps
from songsim.models.configs import AudioEncoderConfig, FusedConfig, LyricsEncoderConfig
from tests.conftest import ROOT
from tests.helpers import live_history
from tests.helpers import random_pairs as _pairs
from tests.helpers import random_songs as _songs


def _fused():
    from songsim.models.nets import FusedModel

    torch.manual_seed(0)
    cfg = FusedConfig(lyrics=LyricsEncoderConfig(embedding_dim=8, lstm_units=(8,), dropout=0.0),
                      audio=AudioEncoderConfig(conv_channels=(4,), dense=(8,), embed_dim=8, dropout=0.0),
                      dense=(8,), dropout=0.0)
    model = FusedModel(cfg, 50)
    model.eval()  # no dropout, batch norm from running statistics: each pair's loss is its own
    # pair loss only (the listwise loss is in-batch, so per rank it differs from one process by design);
    # train freezes the ranking parameters alike when train.rank_weight is 0
    model.rank_mix.requires_grad_(False)
    model.rank_log_scale.requires_grad_(False)
    return model


def _epoch(rank: int, world: int, model) -> None:
    songs, pairs = _songs(), _pairs()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    steps = plan_epoch(pairs, 37, True, np.random.default_rng(5), rank, world)  # 203 pairs: last batch 18
    train_steps(model, opt, prepare(SongStore(songs, torch.device("cpu")), steps),
                torch.from_numpy(pairs.score), "regression", False, world)


def _rank(rank: int, world: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    # what torchrun sets: distributed.setup reads it and keeps the group joined above
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    ranks, device = distributed.setup("cpu")
    helpers = {"ranks": [ranks.rank, ranks.world, ranks.local_rank], "active": ranks.active, "main": ranks.main,
               "main_process": distributed.main_process(), "device": str(device),
               "sum": distributed.all_sum(torch.tensor([rank + 1.0, 10.0 * rank]), ranks).tolist(),
               "from_main": distributed.from_main({"rank": rank, "data": [rank] * 3}, ranks)}
    model = _fused()
    _epoch(rank, world, torch.nn.parallel.DistributedDataParallel(model))
    if rank == 0:
        torch.save(model.state_dict(), out)
    distributed.teardown(ranks)
    helpers["left_group"] = not dist.is_initialized()
    with open(f"{out}.rank{rank}.json", "w") as fh:
        json.dump(helpers, fh)


def test_ddp_steps_equal_the_single_process_steps(tmp_path):
    """Each rank's loss is weighted by its share of the global batch (37 pairs: 19 + 18), so the averaged
    gradient is the global batch's: after a whole epoch of SGD the weights match the 1-process run."""
    single = _fused()
    _epoch(0, 1, single)
    mp.spawn(_rank, args=(2, f"file://{tmp_path / 'rdzv'}", str(tmp_path / "ddp.pt")), nprocs=2, join=True)
    # the helpers each rank called: the sum over ranks, rank 0's object on every rank, rank 0 alone the main one
    for rank in (0, 1):
        got = json.loads((tmp_path / f"ddp.pt.rank{rank}.json").read_text())
        assert got == {"ranks": [rank, 2, rank], "active": True, "main": rank == 0, "main_process": rank == 0,
                       "device": "cpu", "sum": [3.0, 10.0], "from_main": {"rank": 0, "data": [0, 0, 0]},
                       "left_group": True}, rank
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    moved = 0.0
    for k, v in single.state_dict().items():
        assert torch.allclose(ddp[k].float(), v.float(), atol=2e-5), k
        moved = max(moved, float((v.float() - _fused().state_dict()[k].float()).abs().max()))
    assert moved > 1e-2  # the epoch did change the weights


TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@pytest.fixture
def no_torchrun(monkeypatch):
    for k in TORCHRUN_VARS:
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


def test_ranks():
    assert distributed.Ranks() == distributed.Ranks(0, 1, 0)
    assert distributed.Ranks().main and not distributed.Ranks().active
    two = distributed.Ranks(1, 2, 1)
    assert two.active and not two.main and distributed.Ranks(0, 2, 0).main


def test_one_process_without_torchrun(no_torchrun):
    assert not distributed.under_torchrun() and distributed.main_process()
    assert distributed.setup("cpu") == (distributed.Ranks(), None)  # no process group joined
    assert not dist.is_initialized()
    one = distributed.Ranks()
    x = torch.tensor([1.0, 2.0])
    assert distributed.all_sum(x, one) is x and x.tolist() == [1.0, 2.0]
    obj = {"a": [1]}
    assert distributed.from_main(obj, one) is obj
    distributed.teardown(one)  # nothing to leave


def test_what_torchrun_sets(no_torchrun):
    no_torchrun.setenv("LOCAL_RANK", "1")
    no_torchrun.setenv("WORLD_SIZE", "2")
    no_torchrun.setenv("RANK", "3")
    assert distributed.under_torchrun() and not distributed.main_process()  # rank 3 of a 2-machine run
    no_torchrun.setenv("RANK", "0")
    assert distributed.main_process()
    no_torchrun.setenv("WORLD_SIZE", "1")  # torchrun with one process: trained as without it
    assert distributed.setup("cpu") == (distributed.Ranks(), None) and not dist.is_initialized()


def test_relaunch_runs_the_same_command_under_torchrun(tmp_path, monkeypatch):
    script = tmp_path / "train.py"
    script.write_text("")
    ran = []

    def fake_run(cmd, check):
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 3)

    monkeypatch.setattr(distributed.subprocess, "run", fake_run)
    monkeypatch.setattr(distributed.sys, "argv", [str(script), "--model", "fused", "--params", "p.yaml"])
    assert distributed.relaunch(4) == 3  # its exit code
    assert ran == [[sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4", str(script),
                    "--model", "fused", "--params", "p.yaml"]]
    monkeypatch.setattr(distributed.sys, "argv", ["-c"])  # python -c: no script to start again
    with pytest.raises(ConfigError, match="train.nproc is 2: start training through stages/train.py"):
        distributed.relaunch(2)
    assert len(ran) == 1


def _stage(tmp_path, params, tag, nproc, epochs, members=None):
    """Run ``stages/train.py --model audio_siamese`` with ``train.nproc`` = nproc (and ``optim.members``, when
    given); returns the report."""
    p = json.loads(json.dumps(params))
    if members is not None:
        p["audio_siamese"]["optim"]["members"] = members
    for k in ("models", "metrics", "plots", "reports", "live"):
        p["paths"][k] = str(tmp_path / tag / k)
    p["train"]["nproc"] = nproc
    p["audio_siamese"]["optim"].update(epochs=epochs, t_max=epochs)
    f = tmp_path / f"{tag}.yaml"
    f.write_text(yaml.safe_dump(p))
    proc = subprocess.run([sys.executable, "stages/train.py", "--model", "audio_siamese", "--params", str(f)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if nproc > 1:  # the ranks mapped one shared copy of the training data (songsim.learn.shared)
        assert f"training data of audio_siamese shared by {nproc} local ranks" in proc.stderr, proc.stderr[-3000:]
    rep = json.loads((tmp_path / tag / "reports" / "train_audio_siamese.json").read_text())
    rep["ckpt"] = load_checkpoint(tmp_path / tag / "models" / "audio_siamese.pt")[1]
    rep["history"] = live_history(tmp_path / tag / "live" / "audio_siamese", "aud", "train_loss")  # rank 0 alone
    return p, rep


@pytest.mark.slow
def test_two_process_stage_matches_one_process(tmp_path, tiny_run):
    """The train stage with ``train.nproc: 2`` (torchrun, gloo) against 1 process, same global batch.

    Stated tolerance: validation MAE within 0.03. The runs differ only where per-rank computation differs
    from one process: batch-norm statistics over each rank's half batch, and each rank's dropout masks."""
    _, params = tiny_run
    _, one = _stage(tmp_path, params, "n1", 1, 4)
    _, two = _stage(tmp_path, params, "n2", 2, 4)
    assert (one["processes"], two["processes"]) == (1, 2) and one["global_batch"] == two["global_batch"]
    assert abs(one["best_val_mae"] - two["best_val_mae"]) <= 0.03, (one["best_val_mae"], two["best_val_mae"])
    # the same checkpoint format, written once (by rank 0)
    assert one["ckpt"].keys() == two["ckpt"].keys()
    assert one["ckpt"]["state_dict"].keys() == two["ckpt"]["state_dict"].keys()
    assert two["ckpt"]["model"] == "audio_siamese"


@pytest.mark.slow
def test_two_process_run_resumes_after_an_interruption(tmp_path, tiny_run):
    """Rank 0 reads last.pt and hands it to every rank: the resumed 2-process run repeats the uninterrupted
    one (gloo sums in a fixed order on CPU)."""
    from songsim.core.config import model_section, section
    from songsim.learn.data import load_pairs, load_songs, split_track_ids
    from songsim.learn.train import fingerprint
    from songsim.models import MODELS

    _, params = tiny_run
    _, full = _stage(tmp_path, params, "full", 2, 3, members=1)  # one model: its last.pt is the one resumed
    p, _ = _stage(tmp_path, params, "part", 2, 1, members=1)  # "interrupted" after epoch 1
    last = tmp_path / "part" / "models" / "audio_siamese.last.pt"
    state = torch.load(last, weights_only=True)
    p3 = json.loads(json.dumps(p))
    p3["audio_siamese"]["optim"].update(epochs=3, t_max=3)
    d = Path(p["paths"]["splits"]) / MODELS["audio_siamese"].split_set
    songs = load_songs(split_track_ids(d / "train.parquet", d / "val.parquet"), None, p["paths"]["audio"])
    sec3 = model_section(p3, "audio_siamese", MODELS["audio_siamese"].config)
    train_pairs = load_pairs(d / "train.parquet", songs)
    state["fingerprint"] = fingerprint("audio_siamese", sec3, section(p3, "train"), train_pairs)
    state["complete"] = False
    torch.save(state, last)
    _, resumed = _stage(tmp_path, params, "part", 2, 3, members=1)
    assert resumed["resumed_from_epoch"] == 1 and resumed["epochs_run"] == 3
    assert list(resumed["history"]) == [1, 2, 3]  # one row an epoch: rank 0 alone logs
    assert resumed["history"] == pytest.approx(full["history"], rel=1e-5)
