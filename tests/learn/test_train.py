"""Training loop: smoke-train, determinism on CPU, weights_only checkpoints, resume after interruption."""

import copy
import dataclasses
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from songsim.core.checkpoint import load_checkpoint
from songsim.core.config import ConfigError, model_section, section
from songsim.core.stopwords import stopword_ids
from songsim.learn.artists import artist_ids, training_artists
from songsim.learn.batches import steps_in_pass
from songsim.learn.data import load_pairs, load_songs, split_track_ids
from songsim.learn.inference import MIX_SHARES, predict, val_catalog_ndcg
from songsim.learn.setup import audio_tower_states
from songsim.learn.train import train
from songsim.models import MODELS
from tests.helpers import live_history


def _optim(sec, **changes):
    """``sec`` with its ``optim`` block changed (epochs, members, ...)."""
    return dataclasses.replace(sec, optim=dataclasses.replace(sec.optim, **changes))


def _setup(tiny_run, name):
    spec = MODELS[name]
    _, params = tiny_run
    d = f"{params['paths']['splits']}/{spec.split_set}"
    sec = model_section(params, name, spec.config)
    sec = _optim(sec, members=1)  # one model (ensembles: below)
    songs = load_songs(split_track_ids(f"{d}/train.parquet", f"{d}/val.parquet"),
                       params["paths"]["lyrics"] if spec.uses_lyrics else None,
                       params["paths"]["audio"] if spec.uses_audio else None, spec.bag_words(sec.model), spec.partial)
    vocab = pq.read_table(params["paths"]["vocab"]).num_rows
    return (params, songs, load_pairs(f"{d}/train.parquet", songs), load_pairs(f"{d}/val.parquet", songs), vocab,
            sec, section(params, "train"))


def _stop_ids(params) -> np.ndarray:
    """The tiny world's function-word ids (``encoder.stopwords: english``, as the train stage gives them)."""
    return stopword_ids(pq.read_table(params["paths"]["vocab"]).column("word").to_pylist())


def _audio_init(params, sec):
    """The tiny run's trained audio towers, when ``sec`` (fused) starts from them (as the train stage does)."""
    if getattr(sec.model, "audio_init", "none") == "none":
        return None
    return audio_tower_states(f"{params['paths']['models']}/audio_siamese.pt", sec.model.audio)


def _artists(params, sec, songs, tr):
    """The artist ids the train stage gives a model whose artist loss is on (``artist_weight`` above 0)."""
    on = getattr(sec.model, "artist_weight", 0.0) > 0
    return training_artists(params["paths"]["songs"], songs, tr) if on else None


def _run(tmp_path, tiny_run, name="lyrics_regressor", epochs=2, tag="a", **train_kw):
    params, songs, tr, va, vocab, sec, tcfg = _setup(tiny_run, name)
    sec = _optim(sec, epochs=epochs)
    tcfg = dataclasses.replace(tcfg, **train_kw) if train_kw else tcfg
    res = train(name, sec, tcfg, songs, tr, va, vocab, tmp_path / f"{tag}.pt", tmp_path / f"{tag}.last.pt",
                tmp_path / f"{tag}_live", stop_ids=_stop_ids(params), audio_init=_audio_init(params, sec),
                artist_of=_artists(params, sec, songs, tr))
    return res, songs, va


def test_fused_keeps_the_audio_tower_it_starts_from(tmp_path, tiny_run):
    """``audio_init: audio_siamese`` with ``freeze_audio``: the trained fused model's audio tower is the audio
    model's member 0, weight for weight, so an audio-only song is ranked by that model's audio vector."""
    params, songs, tr, va, vocab, sec, tcfg = _setup(tiny_run, "fused")
    warm = _audio_init(params, sec)
    assert warm is not None and sec.model.freeze_audio
    train("fused", sec, tcfg, songs, tr, va, vocab, tmp_path / "w.pt", tmp_path / "w.last.pt",
          stop_ids=_stop_ids(params), audio_init=warm)
    model, state = load_checkpoint(tmp_path / "w.pt")
    own = model.audio.state_dict()
    assert all(torch.equal(own[k], v) for k, v in warm[0].items())
    assert state["param_counts"]["trainable"] == state["param_counts"]["total"] - state["param_counts"]["audio"]
    with pytest.raises(ConfigError, match="audio_init"):  # asked for but not given: never a random tower
        train("fused", sec, tcfg, songs, tr, va, vocab, tmp_path / "x.pt", tmp_path / "x.last.pt",
              stop_ids=_stop_ids(params))


def test_fused_ranking_mixture_is_chosen_on_validation(tmp_path, tiny_run):
    """``train.rank_mix: val``: the saved model ranks the validation catalog as well as the best candidate
    mixture (the learned one among them), and exactly with the one it reports; ``learned`` keeps the
    listwise loss's; a one-block model has none to choose."""
    res, songs, va = _run(tmp_path, tiny_run, "fused", epochs=1, tag="v", rank_mix="val")
    mix = res.rank_mix
    assert mix is not None and "learned" in mix["val_ndcg"] and len(mix["val_ndcg"]) == 1 + len(MIX_SHARES)
    assert mix["val_ndcg"][mix["choice"]] == max(mix["val_ndcg"].values())
    model, state = load_checkpoint(tmp_path / "v.pt")
    assert state["rank_mix"] == mix
    got = val_catalog_ndcg(model, va, songs, 64, torch.device("cpu"), False, 0.5, 10)
    assert got == pytest.approx(mix["val_ndcg"][mix["choice"]], abs=1e-6)
    if mix["choice"] != "learned":
        assert float(model.rank_weights()[0].detach()) == pytest.approx(float(mix["choice"]), abs=1e-6)
    kept, *_ = _run(tmp_path, tiny_run, "fused", epochs=1, tag="l", rank_mix="learned")
    assert kept.rank_mix is None
    audio, *_ = _run(tmp_path, tiny_run, "audio_siamese", epochs=1, tag="a", rank_mix="val")
    assert audio.rank_mix is None


def test_smoke_train_and_weights_only_checkpoint(tmp_path, tiny_run):
    res, songs, va = _run(tmp_path, tiny_run, "fused")
    assert res.epochs_run == 2 and len(res.history) == 2
    assert {"train_loss", "val_loss", "val_mae", "pairs_per_s"} <= set(res.history[0])
    model, state = load_checkpoint(tmp_path / "a.pt")  # torch.load(..., weights_only=True)
    assert state["model"] == "fused" and state["epoch"] == res.best_epoch
    p = predict(model, va, songs, 64, torch.device("cpu"))
    assert p.shape == (len(va),) and np.abs(p - va.score).mean() == pytest.approx(res.best_metric, abs=1e-5)
    # audio normalisation stats travel with the weights
    assert not torch.allclose(model.audio.feat_std, torch.ones(24))



def test_select_on_ndcg_keeps_the_epoch_that_ranks_validation_best(tmp_path, tiny_run):
    """train.select_on=ndcg: the best epoch is the one whose ranking space ranks the validation catalog best
    (every epoch logs val_ndcg either way); the checkpoint reproduces that figure."""
    from songsim.learn.inference import val_catalog_ndcg

    res, songs, va = _run(tmp_path, tiny_run, "lyrics_regressor", epochs=3, select_on="ndcg", patience=5)
    ndcgs = [h["val_ndcg"] for h in res.history]
    assert res.metric_name == "ndcg" and res.best_metric == max(ndcgs)
    assert res.best_epoch == 1 + ndcgs.index(max(ndcgs))
    model, _ = load_checkpoint(tmp_path / "a.pt")
    again = val_catalog_ndcg(model, va, songs, 64, torch.device("cpu"), False, 0.5, 10)
    assert again == pytest.approx(res.best_metric, abs=1e-5)
    with pytest.raises(ConfigError, match="select_on"):
        dataclasses.replace(section(tiny_run[1], "train"), select_on="loss").validate()


def test_prior_output_start_and_batch_norm_recalibration(tmp_path, tiny_run):
    """train.output_init=prior and train.bn_recalibrate: the first epoch starts at the train median (its
    training MAE is far below a start at 0.5), and the checkpoint holds the recalibrated batch-norm
    statistics the best epoch was validated with (it reproduces the best validation MAE)."""
    plain, *_ = _run(tmp_path, tiny_run, "fused", epochs=1, tag="p")
    res, songs, va = _run(tmp_path, tiny_run, "fused", epochs=2, tag="a", output_init="prior", bn_recalibrate=4)
    assert res.history[0]["train_mae"] < plain.history[0]["train_mae"]
    model, _ = load_checkpoint(tmp_path / "a.pt")
    p = predict(model, va, songs, 64, torch.device("cpu"))
    assert np.abs(p - va.score).mean() == pytest.approx(res.best_metric, abs=1e-5)
    # the frozen audio tower keeps the batch-norm statistics it was trained with: recalibration leaves it be
    warm = _audio_init(tiny_run[1], _setup(tiny_run, "fused")[5])[0]
    assert all(torch.equal(model.audio.state_dict()[k], v) for k, v in warm.items())
    for bad in ({"output_init": "mean"}, {"bn_recalibrate": -1}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            dataclasses.replace(section(tiny_run[1], "train"), **bad).validate()


def test_epochs_are_logged_through_dvclive(tmp_path, tiny_run):
    res, *_ = _run(tmp_path, tiny_run, "lyrics_regressor", epochs=2, tag="a")
    live = tmp_path / "a_live"
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == 2  # the step is the epoch number: the latest epoch's values
    assert set(summary["live"]["lyr"]) == {"train_loss", "val_loss", "train_mae", "val_mae", "val_ndcg",
                                           "train_rank_loss", "lr"}
    assert summary["live"]["lyr"]["val_mae"] == pytest.approx(res.history[-1]["val_mae"])
    assert live_history(live, "lyr", "val_mae") == pytest.approx({h["epoch"]: h["val_mae"] for h in res.history})
    assert not (live / "dvc.yaml").exists() and not (live / "report.html").exists()  # the pipeline declares them


def test_deterministic_on_cpu(tmp_path, tiny_run):
    a, *_ = _run(tmp_path, tiny_run, "audio_siamese", tag="a")
    b, *_ = _run(tmp_path, tiny_run, "audio_siamese", tag="b")
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    # an identical retrain writes an identical checkpoint, byte for byte: DVC skips what depends on it
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_resume_after_interruption_matches_uninterrupted(tmp_path, tiny_run):
    full, *_ = _run(tmp_path, tiny_run, "lyrics_regressor", epochs=3, tag="full")
    # "interrupted" run: stopped after 1 epoch, then restarted with the full epoch count
    _run(tmp_path, tiny_run, "lyrics_regressor", epochs=1, tag="part")
    state = torch.load(tmp_path / "part.last.pt", weights_only=True)
    state["complete"] = False
    # the partial run's fingerprint includes epochs=1: re-key it as if the 3-epoch run had been cut
    params, songs, tr, va, vocab, sec, tcfg = _setup(tiny_run, "lyrics_regressor")
    from songsim.learn.train import fingerprint

    sec3 = _optim(sec, epochs=3)
    state["fingerprint"] = fingerprint("lyrics_regressor", sec3, tcfg, tr)
    torch.save(state, tmp_path / "part.last.pt")
    resumed = train("lyrics_regressor", sec3, tcfg, songs, tr, va, vocab, tmp_path / "part.pt",
                    tmp_path / "part.last.pt", tmp_path / "part_live", stop_ids=_stop_ids(params))
    assert resumed.resumed_from == 1 and resumed.epochs_run == 3
    expected = [h["train_loss"] for h in full.history]
    # the resumed run's DVCLive files hold the whole run, restored epochs included
    assert live_history(tmp_path / "part_live", "lyr", "train_loss") == pytest.approx(
        live_history(tmp_path / "full_live", "lyr", "train_loss"), rel=1e-5)
    assert [h["train_loss"] for h in resumed.history] == pytest.approx(expected, rel=1e-5)


def test_finished_last_checkpoint_is_not_resumed(tmp_path, tiny_run):
    _run(tmp_path, tiny_run, "audio_siamese", epochs=1, tag="x")
    again, *_ = _run(tmp_path, tiny_run, "audio_siamese", epochs=1, tag="x")
    assert again.resumed_from == 0 and again.epochs_run == 1


def test_glove_init_requires_matching_dim(tmp_path, tiny_run):
    from songsim.ingest.readers.glove import match_glove

    params, songs, tr, va, vocab_n, sec, tcfg = _setup(tiny_run, "lyrics_classifier")
    vocab = pq.read_table(params["paths"]["vocab"]).column("word").to_pylist()
    glove = match_glove(params["raw"]["glove"], vocab)
    res = train("lyrics_classifier", sec, tcfg, songs, tr, va, vocab_n, tmp_path / "c.pt", tmp_path / "c.last.pt",
                tmp_path / "c_live", glove)
    assert res.metric_name == "accuracy" and 0 <= res.best_metric <= 1
    # GloVe reached the embedding: trained at lr 0, the checkpoint holds the starting weights, whose rows of
    # the words GloVe has are those vectors (the others keep their random start; row 0, padding, is zero)
    found = glove.found
    assert found[1:].sum() > 0 and not found[0]
    train("lyrics_classifier", _optim(sec, lr=0.0, epochs=1), tcfg, songs, tr, va, vocab_n, tmp_path / "z.pt",
          tmp_path / "z.last.pt", None, glove)
    model, _ = load_checkpoint(tmp_path / "z.pt")
    emb = MODELS["lyrics_classifier"].encoder(model, "lyrics").embedding.weight.detach().numpy()
    assert emb.shape == glove.vectors.shape
    np.testing.assert_array_equal(emb[found], glove.vectors[found])
    assert not emb[0].any()
    if (~found[1:]).any():
        assert np.abs(emb[1:][~found[1:]]).sum(axis=1).min() > 0  # not zeroed: their own random start
    bad = dataclasses.replace(sec, model=dataclasses.replace(
        sec.model, encoder=dataclasses.replace(sec.model.encoder, embedding_dim=7)))
    with pytest.raises(ConfigError, match="embedding_dim is 7 but GloVe vectors have 50"):
        train("lyrics_classifier", bad, tcfg, songs, tr, va, vocab_n, tmp_path / "d.pt", tmp_path / "d.last.pt",
              tmp_path / "d_live", glove)
    with pytest.raises(ConfigError, match="raw.glove is empty"):
        train("lyrics_classifier", sec, tcfg, songs, tr, va, vocab_n, tmp_path / "d.pt", tmp_path / "d.last.pt",
              tmp_path / "d_live", None)


def test_kill_then_resume_under_dvc_still_writes_the_best_checkpoint(tmp_path, tiny_run):
    """DVC deletes models/<m>.pt before re-running a killed stage; the resumed run must write it again,
    even when it does not improve on the best epoch it resumes from."""
    full, *_ = _run(tmp_path, tiny_run, "lyrics_regressor", epochs=3, tag="full")
    _run(tmp_path, tiny_run, "lyrics_regressor", epochs=2, tag="part")  # "killed" after epoch 2 of 3
    state = torch.load(tmp_path / "part.last.pt", weights_only=True)
    assert state["best_state"] is not None
    params, songs, tr, va, vocab, sec, tcfg = _setup(tiny_run, "lyrics_regressor")
    from songsim.learn.train import fingerprint

    sec3 = _optim(sec, epochs=3)
    state["complete"] = False
    state["fingerprint"] = fingerprint("lyrics_regressor", sec3, tcfg, tr)
    torch.save(state, tmp_path / "part.last.pt")
    (tmp_path / "part.pt").unlink()  # what DVC does to an output before running its stage
    resumed = train("lyrics_regressor", sec3, tcfg, songs, tr, va, vocab, tmp_path / "part.pt",
                    tmp_path / "part.last.pt", tmp_path / "part_live", stop_ids=_stop_ids(params))
    assert resumed.resumed_from == 2 and (tmp_path / "part.pt").exists()
    model, ck = load_checkpoint(tmp_path / "part.pt")
    assert ck["epoch"] == full.best_epoch == resumed.best_epoch
    p = predict(model, va, songs, 64, torch.device("cpu"))
    assert float(np.abs(p - va.score).mean()) == pytest.approx(full.best_metric, abs=1e-5)


def test_ensemble_is_its_members_averaged_and_calibrated(tmp_path, tiny_run):
    """optim.members=2: two models of seeds 2s and 2s+1, each trained as a single model would be; the
    checkpoint holds both, predicts their mean, ranks by the mean of their ranking scores, and the members'
    own files are gone."""
    from songsim.learn.inference import calibration_inputs
    from songsim.learn.train import member_path, member_seed
    from songsim.models.nets import Ensemble

    params, songs, tr, va, vocab, sec, tcfg = _setup(tiny_run, "audio_siamese")
    sec = _optim(sec, epochs=2)
    tcfg = dataclasses.replace(tcfg, seed=1)
    artists = _artists(params, sec, songs, tr)
    ens = train("audio_siamese", _optim(sec, members=2), tcfg, songs, tr, va, vocab, tmp_path / "e.pt",
                tmp_path / "e.last.pt", tmp_path / "e_live", artist_of=artists)
    singles = []
    for m in range(2):
        one = dataclasses.replace(tcfg, seed=member_seed(1, m, 2))
        train("audio_siamese", sec, one, songs, tr, va, vocab, tmp_path / f"s{m}.pt", tmp_path / f"s{m}.last.pt",
              artist_of=artists)
        singles.append(load_checkpoint(tmp_path / f"s{m}.pt")[0])
    model, state = load_checkpoint(tmp_path / "e.pt")
    assert isinstance(model, Ensemble) and state["members"] == 2 and state["member_seeds"] == [2, 3]
    assert ens.best_epoch == state["epoch"] and len(ens.history) == ens.epochs_run == 4
    assert [h["member"] for h in ens.history] == [0, 0, 1, 1]
    cpu = torch.device("cpu")
    p = predict(model, va, songs, 64, cpu)
    mean = np.mean([predict(s, va, songs, 64, cpu) for s in singles], axis=0)
    np.testing.assert_allclose(p, mean, atol=1e-6)
    assert float(np.abs(p - va.score).mean()) == pytest.approx(ens.best_metric, abs=1e-5)
    r = calibration_inputs(model, va, songs, 64, cpu)[0]  # the ranking score of each pair
    members = [calibration_inputs(s, va, songs, 64, cpu)[0] for s in singles]
    np.testing.assert_allclose(r, np.mean(members, axis=0), atol=1e-5)
    assert state["calibration"]["x"] and model.rank_weights().sum().item() == pytest.approx(1.0)
    assert not any(member_path(tmp_path / f, m).exists() for f in ("e.pt", "e.last.pt") for m in range(2))
    # DVCLive: the members' epochs one after another
    assert list(live_history(tmp_path / "e_live", "aud", "val_mae")) == [1, 2, 3, 4]


def test_interrupted_ensemble_keeps_the_members_it_finished(tmp_path, tiny_run, monkeypatch):
    """A run killed as member 2 starts resumes there: member 1, finished, is kept, not trained again."""
    from songsim.learn import train as train_mod

    params, songs, tr, va, vocab, sec, tcfg = _setup(tiny_run, "lyrics_regressor")
    sec = _optim(sec, epochs=2, members=2)
    full = train("lyrics_regressor", sec, tcfg, songs, tr, va, vocab, tmp_path / "f.pt", tmp_path / "f.last.pt",
                 stop_ids=_stop_ids(params))
    real, calls = train_mod._train, []

    def killed_at_member_2(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_mod, "_train", killed_at_member_2)
    with pytest.raises(KeyboardInterrupt):
        train("lyrics_regressor", sec, tcfg, songs, tr, va, vocab, tmp_path / "k.pt", tmp_path / "k.last.pt",
              stop_ids=_stop_ids(params))
    assert train_mod.member_path(tmp_path / "k.pt", 0).exists() and not (tmp_path / "k.pt").exists()
    calls.clear()
    resumed = train("lyrics_regressor", sec, tcfg, songs, tr, va, vocab, tmp_path / "k.pt", tmp_path / "k.last.pt",
                    stop_ids=_stop_ids(params))
    assert resumed.resumed_from == 2 and resumed.epochs_run == 4
    assert resumed.best_metric == pytest.approx(full.best_metric, abs=1e-6)
    assert len(calls) == 1  # member 2 only
    assert (tmp_path / "k.pt").read_bytes() == (tmp_path / "f.pt").read_bytes()


def test_members_must_be_positive():
    from songsim.core.config import OptimConfig

    with pytest.raises(ConfigError, match="optim.members: at least 1"):
        OptimConfig(0.1, 1, 2, "none", 1, 0.0, 0).validate()


def test_the_catalog_scale_recipe_trains_and_selects_on_validation_ndcg(tmp_path, tiny_run):
    """Sampled negatives, log-Q and masked accidental hits in the listwise loss, the best epoch chosen by
    validation nDCG@10: a run completes, and its checkpoint records the ranking metric it was chosen by."""
    res, _, _ = _run(tmp_path, tiny_run, "audio_siamese", epochs=2, tag="cat", rank_negatives=32, rank_logq=True,
                     rank_mask_hits=True, select_on="ndcg")
    assert res.metric_name == "ndcg" and 0.0 <= res.best_metric <= 1.0
    assert all(h["train_rank_loss"] > 0 for h in res.history)
    _, state = load_checkpoint(tmp_path / "cat.pt")
    assert "ndcg" in state["val"]


def test_min_epoch_steps_passes_a_small_training_set_again(tmp_path, tiny_run):
    """``train.min_epoch_steps``: below one pass's steps nothing changes (the same weights, bit for bit);
    above it an epoch passes over the pairs again, in a new order, and the first epoch fits further from
    the output's start at 0.5."""
    *_, tr, _, _, sec, _ = _setup(tiny_run, "lyrics_regressor")
    per_pass = steps_in_pass(len(tr), sec.optim.batch_size)
    plain, *_ = _run(tmp_path, tiny_run, epochs=1, tag="p", min_epoch_steps=0)
    same, *_ = _run(tmp_path, tiny_run, epochs=1, tag="s", min_epoch_steps=per_pass)
    more, *_ = _run(tmp_path, tiny_run, epochs=1, tag="m", min_epoch_steps=4 * per_pass)
    a, b = (load_checkpoint(tmp_path / f"{t}.pt")[0].state_dict() for t in ("p", "s"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert more.history[0]["train_mae"] < plain.history[0]["train_mae"]
    with pytest.raises(ConfigError, match="min_epoch_steps"):
        dataclasses.replace(section(tiny_run[1], "train"), min_epoch_steps=-1).validate()


def test_the_artist_loss_trains_on_artist_mates_and_is_logged(tmp_path, tiny_run):
    """``audio_siamese.model.artist_weight``: each step adds artist mates of some of its songs and their loss;
    it is logged per epoch and changes what is learned. Without artist ids it fails at once."""
    params, songs, tr, va, vocab, sec, tcfg = _setup(tiny_run, "audio_siamese")
    sec = _optim(sec, epochs=2)
    on = dataclasses.replace(sec, model=dataclasses.replace(sec.model, artist_weight=1.0, artist_songs=64))
    off = dataclasses.replace(sec, model=dataclasses.replace(sec.model, artist_weight=0.0))
    artists = artist_ids(params["paths"]["songs"], songs.track_ids)
    assert sum(a is not None for a in artists) == len(songs)  # the world's MSD files name every song's artist
    runs = {}
    for tag, s in (("on", on), ("off", off)):
        runs[tag] = train("audio_siamese", s, tcfg, songs, tr, va, vocab, tmp_path / f"{tag}.pt",
                          tmp_path / f"{tag}.last.pt", artist_of=artists)
    assert all(np.isfinite(h["train_artist_loss"]) and h["train_artist_loss"] > 0 for h in runs["on"].history)
    assert all("train_artist_loss" not in h for h in runs["off"].history)
    a, b = (load_checkpoint(tmp_path / f"{t}.pt")[0].state_dict() for t in ("on", "off"))
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
    with pytest.raises(ConfigError, match="artist ids"):
        train("audio_siamese", on, tcfg, songs, tr, va, vocab, tmp_path / "x.pt", tmp_path / "x.last.pt")


def test_the_train_stage_reads_the_artists_of_its_training_songs_only(tmp_path, tiny_run, monkeypatch):
    """The stage with ``artist_weight`` > 0 (its outputs moved to ``tmp_path``): it trains with the artist loss,
    and the song table it reads artist ids for is the training pairs' songs, never a validation song."""
    from songsim.cli import run
    from songsim.learn import artists

    _, params = tiny_run
    p = copy.deepcopy(params)
    for key in ("models", "reports", "live"):
        p["paths"][key] = str(tmp_path / key)
    p["audio_siamese"]["model"]["artist_weight"] = 1.0
    p["audio_siamese"]["optim"].update(epochs=1, members=1)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(p))
    asked: list[str] = []
    real = artists.artist_ids
    monkeypatch.setattr("songsim.learn.artists.artist_ids", lambda sp, ids: asked.extend(ids) or real(sp, ids))
    run("train", str(path), "audio_siamese")
    d = f"{params['paths']['splits']}/audio"
    assert set(asked) == split_track_ids(f"{d}/train.parquet")
    assert not set(asked) & (split_track_ids(f"{d}/val.parquet") - split_track_ids(f"{d}/train.parquet"))
    history = live_history(tmp_path / "live" / "audio_siamese", MODELS["audio_siamese"].short, "train_artist_loss")
    assert len(history) == 1 and all(v > 0 for v in history.values())
