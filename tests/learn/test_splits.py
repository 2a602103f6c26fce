"""Splits: no track leaks in track mode, pair mode reports leakage, negatives are new pairs, determinism."""

import numpy as np
import polars as pl

from songsim.core.config import SplitsConfig
from songsim.learn.splits import build_set, track_assignment


def _pairs(n_tracks=200, n_pairs=600, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"TR{i:05d}AAAA0000000" for i in range(n_tracks)]
    rows = set()
    while len(rows) < n_pairs:
        a, b = sorted(rng.choice(n_tracks, 2, replace=False))
        rows.add((ids[a], ids[b]))
    rows = sorted(rows)
    return pl.DataFrame({"src": [a for a, _ in rows], "tgt": [b for _, b in rows],
                         "score": rng.random(len(rows)).astype(np.float32)}), ids


def _cfg(**kw):
    base = dict(mode="track", seed=1, lyrics_ratios=(0.6, 0.2, 0.2), multimodal_ratios=(0.6, 0.2, 0.2),
                neg_ratio=0.5, neg_label=0.0, threshold=0.5, data_fraction=1.0)
    base.update(kw)
    return SplitsConfig(**base)


def _tracks(df):
    return set(df["src"].to_list()) | set(df["tgt"].to_list())


def test_track_mode_never_leaks_and_counts_reconcile():
    pairs, ids = _pairs()
    eligible = set(ids[:160])
    out, rep = build_set(pairs, eligible, (0.6, 0.2, 0.2), _cfg(), "lyrics", True)
    t = [_tracks(out[s]) for s in ("train", "val", "test")]
    assert not (t[0] & t[1]) and not (t[0] & t[2]) and not (t[1] & t[2])
    assert rep["leaked_tracks"] == 0
    assert all(x <= eligible for x in t)
    assert rep["read"] == pairs.height == rep["kept"] + rep["dropped"]
    assert set(rep["drop_reasons"]) <= {"src_not_in_set", "tgt_not_in_set", "cross_split"}


def test_negatives_are_unlabelled_new_pairs_with_label():
    pairs, ids = _pairs()
    out, _ = build_set(pairs, set(ids), (0.6, 0.2, 0.2), _cfg(neg_label=0.1), "lyrics", True)
    known = set(zip(pairs["src"].to_list(), pairs["tgt"].to_list()))
    for df in out.values():
        neg = df.filter(~pl.col("labelled"))
        assert neg.height > 0
        assert np.allclose(neg["score"].to_numpy(), 0.1)
        assert not (set(zip(neg["src"].to_list(), neg["tgt"].to_list())) & known)
        assert (df["label"].to_numpy() == (df["score"].to_numpy() >= 0.5)).all()


def test_pair_mode_reports_leakage():
    pairs, ids = _pairs()
    out, rep = build_set(pairs, set(ids), (0.6, 0.2, 0.2), _cfg(mode="pair"), "lyrics", True)
    assert rep["leaked_tracks"] > 0 and rep["dropped"] == 0
    assert sum(out[s].filter(pl.col("labelled")).height for s in out) == pairs.height


def test_deterministic_and_data_fraction():
    pairs, ids = _pairs()
    a, _ = build_set(pairs, set(ids), (0.6, 0.2, 0.2), _cfg(), "lyrics", True)
    b, _ = build_set(pairs, set(ids), (0.6, 0.2, 0.2), _cfg(), "lyrics", True)
    assert all(a[s].equals(b[s]) for s in a)
    c, _ = build_set(pairs, set(ids), (0.6, 0.2, 0.2), _cfg(data_fraction=0.5), "lyrics", True)
    assert c["train"].height == round(0.5 * a["train"].height) and c["test"].equals(a["test"])


def test_track_assignment_consistent_across_sets():
    ids = [f"TR{i:05d}AAAA0000000" for i in range(2000)]
    full = track_assignment(ids, (0.64, 0.16, 0.2), 0)
    sub = track_assignment(ids[::3], (0.64, 0.16, 0.2), 0)
    assert np.array_equal(full[::3], sub)
    frac = np.bincount(full, minlength=3) / len(ids)
    assert np.allclose(frac, [0.64, 0.16, 0.2], atol=0.04)


def test_artist_mode_never_puts_an_artist_in_two_splits():
    pairs, ids = _pairs(n_tracks=300, n_pairs=1500)
    artists = {t: f"AR{i // 6:04d}" for i, t in enumerate(ids[:280])}  # 6 songs per artist; 20 tracks unknown
    out, rep = build_set(pairs, set(ids), (0.6, 0.2, 0.2), _cfg(mode="artist"), "lyrics", True, artists)
    by_split = [{artists[t] for t in _tracks(out[s]) if t in artists} for s in ("train", "val", "test")]
    assert not (by_split[0] & by_split[1]) and not (by_split[0] & by_split[2]) and not (by_split[1] & by_split[2])
    assert rep["leaked_artists"] == 0 and rep["leaked_tracks"] == 0 and rep["tracks_without_artist"] > 0
    assert rep["read"] == rep["kept"] + rep["dropped"]
    # the track split, on the same data, does put artists in several splits (what the artist split prevents)
    _, rep_t = build_set(pairs, set(ids), (0.6, 0.2, 0.2), _cfg(), "lyrics", True, artists)
    assert rep_t["leaked_artists"] > 0
