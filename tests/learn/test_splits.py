"""Splits: no track leaks in track mode, pair mode reports leakage, negatives are new pairs, determinism."""

import numpy as np
import polars as pl
import pytest

from songsim.core.config import SplitsConfig
from songsim.learn.coded_pairs import CodedPairs, sample_negatives
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
                audio_ratios=(0.6, 0.2, 0.2), catalog_ratios=(0.6, 0.2, 0.2),
                neg_ratio=0.5, neg_label=0.0, threshold=0.5, data_fraction=1.0)
    base.update(kw)
    return SplitsConfig(**base)


def _tracks(df):
    return set(df["src"].to_list()) | set(df["tgt"].to_list())


def test_track_mode_never_leaks_and_counts_reconcile():
    pairs, ids = _pairs()
    eligible = set(ids[:160])
    out, rep = build_set(CodedPairs.from_frame(pairs), eligible, (0.6, 0.2, 0.2), _cfg(), "lyrics", True)
    t = [_tracks(out[s]) for s in ("train", "val", "test")]
    assert not (t[0] & t[1]) and not (t[0] & t[2]) and not (t[1] & t[2])
    assert rep["leaked_tracks"] == 0
    assert all(x <= eligible for x in t)
    assert rep["read"] == pairs.height == rep["kept"] + rep["dropped"]
    assert set(rep["drop_reasons"]) <= {"src_not_in_set", "tgt_not_in_set", "cross_split"}


def test_negatives_are_unlabelled_new_pairs_with_label():
    pairs, ids = _pairs()
    out, _ = build_set(CodedPairs.from_frame(pairs), set(ids), (0.6, 0.2, 0.2), _cfg(neg_label=0.1), "lyrics", True)
    known = set(zip(pairs["src"].to_list(), pairs["tgt"].to_list()))
    for df in out.values():
        neg = df.filter(~pl.col("labelled"))
        assert neg.height > 0
        assert np.allclose(neg["score"].to_numpy(), 0.1)
        assert not (set(zip(neg["src"].to_list(), neg["tgt"].to_list())) & known)
        assert (df["label"].to_numpy() == (df["score"].to_numpy() >= 0.5)).all()


def test_pair_mode_reports_leakage():
    pairs, ids = _pairs()
    out, rep = build_set(CodedPairs.from_frame(pairs), set(ids), (0.6, 0.2, 0.2), _cfg(mode="pair"), "lyrics", True)
    assert rep["leaked_tracks"] > 0 and rep["dropped"] == 0
    assert sum(out[s].filter(pl.col("labelled")).height for s in out) == pairs.height


def test_deterministic_and_data_fraction():
    pairs, ids = _pairs()
    a, _ = build_set(CodedPairs.from_frame(pairs), set(ids), (0.6, 0.2, 0.2), _cfg(), "lyrics", True)
    b, _ = build_set(CodedPairs.from_frame(pairs), set(ids), (0.6, 0.2, 0.2), _cfg(), "lyrics", True)
    assert all(a[s].equals(b[s]) for s in a)
    c, _ = build_set(CodedPairs.from_frame(pairs), set(ids), (0.6, 0.2, 0.2), _cfg(data_fraction=0.5), "lyrics", True)
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
    out, rep = build_set(CodedPairs.from_frame(pairs), set(ids), (0.6, 0.2, 0.2), _cfg(mode="artist"), "lyrics", True,
                         artists)
    by_split = [{artists[t] for t in _tracks(out[s]) if t in artists} for s in ("train", "val", "test")]
    assert not (by_split[0] & by_split[1]) and not (by_split[0] & by_split[2]) and not (by_split[1] & by_split[2])
    assert rep["leaked_artists"] == 0 and rep["leaked_tracks"] == 0 and rep["tracks_without_artist"] > 0
    assert rep["read"] == rep["kept"] + rep["dropped"]
    # the track split, on the same data, does put artists in several splits (what the artist split prevents)
    _, rep_t = build_set(CodedPairs.from_frame(pairs), set(ids), (0.6, 0.2, 0.2), _cfg(), "lyrics", True, artists)
    assert rep_t["leaked_artists"] > 0


def _negatives_one_at_a_time(tracks, n, taken, n_taken, added, n_names, rng, symmetric):
    """The reference: rejection sampling one candidate per try, as the sampler's docstring states it."""
    src, tgt, seen, tries = [], [], set(), 0
    max_pairs = len(tracks) * (len(tracks) - 1) // (2 if symmetric else 1)
    n = min(n, max(0, max_pairs - n_taken))
    while len(src) < n and tries < 50 * n + 100:
        tries += 1
        a, b = (int(x) for x in tracks[rng.integers(0, len(tracks), 2)])
        if a == b:
            continue
        if symmetric and b < a:
            a, b = b, a
        key, either = a * n_names + b, min(a, b) * n_names + max(a, b)
        if key in seen or either in added or either in taken:
            continue
        seen.add(key)
        src.append(a)
        tgt.append(b)
    return src, tgt


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("n_pool,n", [(40, 300), (12, 200), (300, 50), (2, 5)])
def test_vectorised_negatives_draw_what_one_at_a_time_sampling_draws(symmetric, n_pool, n):
    """Same pairs, same order, and the generator left in the same state (so later splits draw the same),
    including batches smaller than the request, a pool nearly exhausted, and the try cap."""
    n_names = 500
    rng0 = np.random.default_rng(3)
    tracks = np.sort(rng0.choice(n_names, n_pool, replace=False)).astype(np.int64)
    listed = rng0.choice(tracks, (n_pool, 2))
    taken = np.unique(listed.min(1) * n_names + listed.max(1))
    before = rng0.choice(tracks, (n_pool // 2, 2))
    added = np.unique(before.min(1) * n_names + before.max(1))
    for batch in (1024, 7):
        r_new, r_ref = np.random.default_rng(11), np.random.default_rng(11)
        s, t = sample_negatives(tracks, n, taken, len(taken), added, n_names, r_new, symmetric, batch=batch)
        rs, rt = _negatives_one_at_a_time(tracks, n, set(taken.tolist()), len(taken), set(added.tolist()), n_names,
                                          r_ref, symmetric)
        assert s.tolist() == rs and t.tolist() == rt
        assert r_new.integers(0, 2**40, 4).tolist() == r_ref.integers(0, 2**40, 4).tolist()
