"""Checkpoint I/O: plain data that loads with weights_only=True, the same state gives the same bytes, and a
checkpoint older than a setting loads with that setting's default."""

import copy

import pytest
import torch

from songsim.core.checkpoint import load_checkpoint, save_checkpoint, write_state
from songsim.core.config import ConfigError, model_section
from songsim.models import MODELS
from songsim.models.nets import build_model


def _model(params, name="audio_siamese", seed=0):
    torch.manual_seed(seed)
    sec = model_section(params, name, MODELS[name].config)
    return sec, build_model(name, sec.model, 50)


def test_two_saves_of_the_same_weights_are_byte_identical(tmp_path, base_params):
    sec, net = _model(base_params)
    # different file names: torch.save to a path would name the archive's records after each file
    save_checkpoint(tmp_path / "one.pt", net, "audio_siamese", sec, 50, {"epoch": 3})
    save_checkpoint(tmp_path / "sub" / "two.pt", net, "audio_siamese", sec, 50, {"epoch": 3})
    assert (tmp_path / "one.pt").read_bytes() == (tmp_path / "sub" / "two.pt").read_bytes()
    # ... and different weights give different bytes
    _, other = _model(base_params, seed=1)
    save_checkpoint(tmp_path / "three.pt", other, "audio_siamese", sec, 50, {"epoch": 3})
    assert (tmp_path / "three.pt").read_bytes() != (tmp_path / "one.pt").read_bytes()


def test_checkpoint_round_trip_with_weights_only(tmp_path, base_params):
    sec, net = _model(base_params, "fused")
    save_checkpoint(tmp_path / "m.pt", net, "fused", sec, 50, {"epoch": 2})
    loaded, state = load_checkpoint(tmp_path / "m.pt")
    assert state["model"] == "fused" and state["epoch"] == 2 and state["vocab_size"] == 50
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


def test_write_state_is_atomic_and_leaves_no_temp_file(tmp_path):
    write_state(tmp_path / "s.pt", {"x": torch.arange(3)})
    assert [p.name for p in tmp_path.iterdir()] == ["s.pt"]
    assert torch.equal(torch.load(tmp_path / "s.pt", weights_only=True)["x"], torch.arange(3))


def test_a_checkpoint_written_before_a_setting_existed_loads_with_its_default(tmp_path, base_params, caplog):
    params = copy.deepcopy(base_params)  # the fixture is shared: change a copy
    params["audio_siamese"]["model"]["encoder"]["kind"] = "cnn"  # the one kind an older release knew
    sec, net = _model(params)
    save_checkpoint(tmp_path / "m.pt", net, "audio_siamese", sec, 50)
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    del state["config"]["artist_weight"], state["config"]["encoder"]["kind"]  # as an older release wrote it
    write_state(tmp_path / "old.pt", state)
    with caplog.at_level("INFO"):
        loaded, _ = load_checkpoint(tmp_path / "old.pt")
    assert loaded.cfg.artist_weight == 0.0 and loaded.cfg.encoder.kind == "cnn"
    assert "encoder.kind, artist_weight" in caplog.text
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    state["config"]["surprise"] = 1  # a key the code does not know still fails, naming it
    write_state(tmp_path / "bad.pt", state)
    with pytest.raises(ConfigError, match="surprise"):
        load_checkpoint(tmp_path / "bad.pt")
