"""The synthetic world is written in the exact real formats (checked against the genuine samples)."""

import json
import zipfile

import h5py
import numpy as np
import pyarrow.parquet as pq

from songsim.ingest.readers import BadRecord
from songsim.ingest.readers.lastfm import LastfmJsonReader
from songsim.ingest.readers.msd import iter_msd_files, read_msd_file
from songsim.ingest.readers.mxm import MxmReader
from songsim.synth import calibration as cal
from songsim.synth.world import SIZES, World, expected_score, observed_score


def _layout(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                dt = obj.dtype
                out[name] = (tuple((n, dt[n].str) for n in dt.names) if dt.names else dt.str, obj.ndim,
                             obj.compression, obj.shuffle)
        f.visititems(visit)
        out["attrs"] = sorted(f.attrs)
    return out


def test_hdf5_layout_identical_to_real(realdata, tiny_world):
    real = _layout(realdata / "msd_h5" / "TRAAABD128F429CF47.h5")
    synth_file = next(iter_msd_files(tiny_world / "msd"))
    assert _layout(synth_file) == real  # same paths, dtypes, compound field names and order, filters
    tid = synth_file.stem
    assert synth_file.parent.parts[-3:] == (tid[2], tid[3], tid[4])


def test_hdf5_readable_and_plausible(tiny_world):
    songs = [s for f in iter_msd_files(tiny_world / "msd") for s in read_msd_file(f)]
    assert songs and not any(isinstance(s, BadRecord) for s in songs)
    for s in songs[:20]:
        assert np.allclose(s.chroma.max(axis=1), 1.0)
        assert np.all(np.diff(s.segments_start) > 0) and s.duration > s.segments_start[-1]


def test_lastfm_json_like_real(realdata, tiny_world):
    real = json.loads(next((realdata / "lastfm").rglob("TRAAABD128F429CF47.json")).read_text())
    with zipfile.ZipFile(tiny_world / "lastfm" / "lastfm_train.zip") as zf:
        names = [n for n in zf.namelist() if n.endswith(".json")]
        raw = zf.read(names[0]).decode("ascii")
    assert not raw.endswith("\n") and "\n" not in raw
    synth = json.loads(raw)
    assert list(synth) == list(real)  # same keys in the same order
    for k in real:
        assert type(synth[k]) is type(real[k]), k
    assert all(isinstance(t, str) and isinstance(c, str) for t, c in synth["tags"])
    tid = synth["track_id"]
    assert names[0] == f"lastfm_train/{tid[2]}/{tid[3]}/{tid[4]}/{tid}.json"
    tracks = [t for t in LastfmJsonReader(tiny_world / "lastfm") if not isinstance(t, BadRecord)]
    nonempty = [t for t in tracks if t.similars]
    assert {t.origin for t in tracks} == {"train", "test"}
    for t in nonempty:
        s = [x for _, x in t.similars]
        assert s == sorted(s, reverse=True) and 0 < min(s) and max(s) <= 1
        assert t.track_id not in {x for x, _ in t.similars}
    assert len(nonempty) < len(tracks)  # some empty lists, as in the real data


def test_mxm_grammar_like_real(realdata, tiny_world):
    for split in ("train", "test"):
        text = (tiny_world / "mxm" / f"mxm_dataset_{split}.txt").read_text(encoding="utf-8").splitlines()
        assert text[0] == f"# {'TRAINING' if split == 'train' else 'TESTING'} SET"
        body = [l for l in text if not l.startswith(("#", "%"))]
        assert sum(l.startswith("%") for l in text) == 1
        assert [l.split(",")[0] for l in body] == sorted(l.split(",")[0] for l in body)
    r = MxmReader(tiny_world / "mxm")
    recs = list(r)
    assert recs and not any(isinstance(x, BadRecord) for x in recs)
    assert any(not w.isascii() for w in r.vocab)  # UTF-8 words as in the real vocabulary


def test_coverage_is_partial_and_oracle_consistent(tiny_world):
    summary = json.loads((tiny_world / "world.json").read_text())
    n = summary["n_tracks"]
    assert summary["mxm"]["tracks"] < n and summary["msd"]["tracks"] < n and summary["lastfm"]["tracks"] < n
    o = pq.read_table(tiny_world / "oracle.parquet").column("oracle").to_numpy()
    assert len(o) == summary["lastfm"]["pairs"]
    assert ((o >= 0) & (o <= 1)).all()


def test_same_seed_same_world_and_shared_plus_private_factors():
    a, b = World("tiny", 5), World("tiny", 5)
    assert list(a.track_ids) == list(b.track_ids)
    i, j = np.arange(0, 50), np.arange(50, 100)
    assert np.allclose(a.oracle(i, j), b.oracle(i, j))
    assert np.allclose(a.oracle(i, j), a.oracle(j, i))  # symmetric
    # lyrics see (shared, lyrics) factors; audio (shared, audio): neither sees everything
    assert a.word_emb.shape[1] == a.latent[0].shape[1] + a.latent[1].shape[1]
    assert a.timbre_mod.shape[0] == a.latent[2].shape[1]


def test_expected_score_matches_monte_carlo():
    rng = np.random.default_rng(0)
    logit = np.array([-9.0, -3.0, 0.0, 4.0])
    mc = observed_score(logit[:, None] + rng.normal(0, cal.NOISE, (4, 400_000))).mean(1)
    assert np.allclose(expected_score(logit), mc, rtol=2e-3, atol=1e-5)


def test_lists_sorted_top_near_one_long_tail_near_zero():
    w = World("tiny", 3)
    tops, scores = [], []
    for i in range(120):
        tgt, s = w.similars(i, np.random.default_rng([3, i]))
        assert list(s) == sorted(s, reverse=True) and i not in tgt and len(set(tgt)) == len(tgt)
        tops.append(s[0])
        scores.extend(s)
    assert np.mean(np.array(tops) > 0.8) > 0.7  # the artist's own songs lead the list
    assert 0.02 < np.median(scores) < 0.12 and np.mean(np.array(scores) >= 0.5) < 0.1  # real: 0.066, 5.2%


def test_per_song_statistics_do_not_depend_on_the_size():
    import dataclasses

    small, big = World("tiny", 1), World(dataclasses.replace(SIZES["tiny"], n_tracks=2000), 1)
    words = [[w.lyrics_counts(i, np.random.default_rng([9, i]))[1].sum() for i in range(150)] for w in (small, big)]
    segs = [[len(w.audio(i, np.random.default_rng([9, i]))["timbre"]) for i in range(60)] for w in (small, big)]
    assert abs(np.median(words[0]) - np.median(words[1])) < 40 and abs(np.median(segs[0]) - np.median(segs[1])) < 200
    assert 130 < np.median(words[1]) < 240 and 550 < np.median(segs[1]) < 1000  # real medians: 185 words, 779


def test_quantile_map_hits_its_knots_and_extends_linearly():
    from scipy.stats import norm

    knots = cal.DURATION
    assert np.allclose(cal.quantile_map(norm.ppf(cal.PROBS), knots), knots)
    far = cal.quantile_map(np.array([-4.0, 4.0]), knots)
    assert far[0] < knots[0] and far[1] > knots[-1]
    g = np.random.default_rng(0).normal(size=200_000)
    assert np.allclose(np.quantile(cal.quantile_map(g, knots), cal.PROBS[1:-1]), knots[1:-1], rtol=0.01)


def test_lastfm_db_dest_is_inverse_of_src(tiny_world):
    import sqlite3
    from collections import defaultdict

    con = sqlite3.connect(tiny_world / "lastfm" / "lastfm_similars.db")
    inverse = defaultdict(list)
    for tid, target in con.execute("SELECT tid, target FROM similars_src ORDER BY rowid"):
        parts = target.split(",") if target else []
        for k in range(0, len(parts), 2):
            inverse[parts[k]] += [tid, parts[k + 1]]
    dest = {t: v.split(",") for t, v in con.execute("SELECT tid, target FROM similars_dest")}
    con.close()
    assert dest == dict(inverse)


def test_latent_file_is_the_worlds_latent_factors(tiny_world):
    """latent.parquet (read by the modality ceilings) holds every track's factors and level projections."""
    t = pq.read_table(tiny_world / "latent.parquet")
    w = World("tiny", 3)
    assert t.column("track_id").to_pylist() == w.track_ids.tolist()
    for k, part in enumerate(("shared", "lyrics", "audio")):
        got = t.column(part).combine_chunks().flatten().to_numpy().reshape(len(w.track_ids), -1)
        assert np.allclose(got, w.latent[k])
        lv = t.column("level").combine_chunks().flatten().to_numpy().reshape(-1, 3)[:, k]
        assert np.allclose(lv, w.latent[k] @ w.level_dir[k], atol=1e-6)


def test_coverage_is_a_param_and_the_published_figures_are_the_default():
    """The coverage decides which tracks each source covers and nothing else: the same seed gives the same
    tracks, factors and artists whatever the coverage; with none given a world takes the published one."""
    from songsim.core.published import DENSE, PUBLISHED

    real, dense = World("tiny", 2), World("tiny", 2, DENSE)
    assert real.coverage == PUBLISHED and dense.coverage == DENSE
    assert list(real.track_ids) == list(dense.track_ids) and (real.artist == dense.artist).all()
    assert all(np.array_equal(a, b) for a, b in zip(real.latent, dense.latent))
    assert real.has_audio.all() and real.has_lyrics.mean() < 0.4 < 0.7 < dense.has_lyrics.mean()
    # a share draws against the same uniforms: the lyrics tracks of the sparser world are among the denser's
    assert not (real.has_lyrics & ~dense.has_lyrics).any()
