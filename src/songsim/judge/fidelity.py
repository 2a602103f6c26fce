"""The ``fidelity`` stage: how much the world the pipeline reads (``raw.*``) looks like real data.

Both sides are read with the same readers (``songsim.ingest.readers``) and compared statistic by statistic:
Last.fm scores, similar-list lengths and the share of empty lists; musiXmatch words and distinct words
per song, the word-frequency rank of every word occurrence (over the same number of songs on both sides:
the curve flattens as a corpus grows) and the share of songs over
``expand_lyrics.max_len``; MSD segments per song, every timbre and chroma coefficient, duration, tempo,
loudness, key and mode. Continuous and count statistics get the two-sample Kolmogorov-Smirnov statistic
(the largest gap between the two empirical CDFs, 0 = same distribution, 1 = disjoint); key and mode,
categorical, get the total-variation distance; shares get their absolute difference.

Beside them, the ``coverage`` section (``songsim.judge.coverage``): which share of the tracks each source
covers (Last.fm files, non-empty lists, lyrics, audio, the musiXmatch test file) and similars per list, counted
from the world's raw files, against the published dataset figures.

The reference is the genuine samples in ``../shared/realdata`` by default (``fidelity.reference_*``).
Where they are absent (a user's clone) the stage writes a report saying so and skips the comparison; the
coverage section, which needs only the world and the published figures, is still computed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

import numpy as np

from songsim.core.config import section
from songsim.core.writers import write_csv, write_json
from songsim.ingest.listing import listed_files
from songsim.ingest.readers import BadRecord
from songsim.ingest.readers.lastfm import open_lastfm
from songsim.ingest.readers.msd import iter_msd_files, read_msd_file
from songsim.ingest.readers.mxm import MxmReader
from songsim.judge.coverage import count_sources, coverage

log = logging.getLogger(__name__)

QUANTILES = np.linspace(0.0, 1.0, 41)  # the overlay plots: both sides' quantile curves


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: sup |F_a(x) - F_b(x)| over the pooled sample."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    if not len(a) or not len(b):
        return float("nan")
    x = np.concatenate([a, b])
    fa = np.searchsorted(a, x, side="right") / len(a)
    fb = np.searchsorted(b, x, side="right") / len(b)
    return float(np.abs(fa - fb).max())


def total_variation(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance between two categorical distributions."""
    ca, cb = Counter(np.asarray(a).tolist()), Counter(np.asarray(b).tolist())
    na, nb = max(1, len(a)), max(1, len(b))
    return 0.5 * sum(abs(ca[k] / na - cb[k] / nb) for k in set(ca) | set(cb))


def good(records, skipped: Counter, source: str):
    """The readers' records without their ``BadRecord`` items, each of which is counted in ``skipped[source]``
    (the report lists them: a statistic never drops input silently)."""
    for r in records:
        if isinstance(r, BadRecord):
            skipped[source] += 1
        else:
            yield r


def lastfm_stats(path: str | Path, max_tracks: int, skipped: Counter) -> dict[str, np.ndarray]:
    scores, lengths = [], []
    for rec in islice(good(open_lastfm(path), skipped, "lastfm"), max_tracks):
        lengths.append(len(rec.similars))
        scores.extend(s for _, s in rec.similars)
    return {"lastfm_score": np.array(scores), "lastfm_list_length": np.array(lengths)}


def mxm_stats(path: str | Path, max_tracks: int, skipped: Counter) -> dict[str, np.ndarray]:
    words, distinct, songs = [], [], []
    for rec in islice(good(MxmReader(path), skipped, "mxm"), max_tracks):
        words.append(sum(rec.counts))
        distinct.append(len(rec.word_ids))
        songs.append(dict(zip(rec.word_ids, rec.counts)))
    return {"mxm_words": np.array(words), "mxm_distinct_words": np.array(distinct), "mxm_songs": songs}


def word_ranks(songs: list[dict], n: int) -> np.ndarray:
    """The rank (1 = most frequent in the corpus of the first ``n`` songs) of every word occurrence: the Zipf
    curve as a distribution."""
    occurrences = Counter()
    for song in songs[:n]:
        occurrences.update(song)
    freq = np.array(sorted(occurrences.values(), reverse=True), dtype=np.int64)
    return np.repeat(np.arange(1, len(freq) + 1), freq) if len(freq) else np.array([])


def equal_corpora(real: dict, world: dict) -> None:
    """Replace both sides' song lists by their word-rank samples over the same number of songs."""
    n = min(len(real["mxm_songs"]), len(world["mxm_songs"]))
    for side in (real, world):
        side["mxm_word_rank"] = word_ranks(side.pop("mxm_songs"), n)


def msd_stats(path: str | Path, max_files: int, rows_per_song: int, seed: int,
              skipped: Counter, files: Iterable[Path] | None = None) -> dict[str, np.ndarray]:
    """The MSD statistics of the first ``max_files`` files of ``files`` (a listing's, in tree order), or of
    the tree ``path`` when none are given."""
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {k: [] for k in ("msd_segments", "msd_duration", "msd_tempo", "msd_loudness", "msd_key",
                                            "msd_mode", "timbre", "chroma")}
    for f in islice(iter_msd_files(path) if files is None else files, max_files):
        for song in good(read_msd_file(f, details=False, meta=False), skipped, "msd"):
            for k, v in (("msd_segments", song.n_segments), ("msd_duration", song.duration),
                         ("msd_tempo", song.tempo), ("msd_loudness", song.loudness), ("msd_key", song.key),
                         ("msd_mode", song.mode)):
                out[k].append(v)
            rows = rng.choice(len(song.timbre), min(rows_per_song, len(song.timbre)), replace=False)
            out["timbre"].append(song.timbre[rows])
            out["chroma"].append(song.chroma[rows])
    res = {k: np.array(v) for k, v in out.items() if k not in ("timbre", "chroma")}
    for k in ("timbre", "chroma"):
        m = np.concatenate(out[k]) if out[k] else np.zeros((0, 12), np.float32)  # (rows, 12)
        res.update({f"{k}_{c:02d}": m[:, c] for c in range(12)})
    return res


def summary(x: np.ndarray) -> dict:
    if not len(x):
        return {"n": 0}
    q = np.quantile(x, [0.1, 0.5, 0.9])
    return {"n": int(len(x)), "p10": round(float(q[0]), 4), "median": round(float(q[1]), 4),
            "p90": round(float(q[2]), 4), "mean": round(float(np.mean(x)), 4)}


def compare(real: dict[str, np.ndarray], world: dict[str, np.ndarray], max_len: int, target: float,
            target_lists: float) -> dict[str, dict]:
    """One entry per statistic: its test, value, target, pass, and both sides' summaries."""
    out: dict[str, dict] = {}
    for name in real:
        r, w = real[name], world[name]
        categorical = name in ("msd_key", "msd_mode")
        value = total_variation(r, w) if categorical else ks(r, w)
        limit = target_lists if name == "lastfm_list_length" else target
        out[name] = {"test": "tv" if categorical else "ks", "value": round(value, 4), "target": limit,
                     "pass": bool(value <= limit), "real": summary(r), "world": summary(w)}
    shares = {"lastfm_empty_share": ("lastfm_list_length", lambda x: x == 0),
              f"mxm_over_{max_len}_share": ("mxm_words", lambda x: x > max_len)}
    for name, (src, pred) in shares.items():
        r, w = real[src], world[src]
        fr, fw = float(np.mean(pred(r))) if len(r) else float("nan"), float(np.mean(pred(w))) if len(w) else 0.0
        out[name] = {"test": "abs_diff", "value": round(abs(fr - fw), 4), "target": target,
                     "pass": bool(abs(fr - fw) <= target), "real": round(fr, 4), "world": round(fw, 4)}
    return out


def compact(stats: dict[str, dict]) -> dict:
    """The metrics file: one number per statistic (timbre/chroma: the worst coefficient), the pass count."""
    m = {k.removeprefix("lastfm_").removeprefix("mxm_").removeprefix("msd_"): v["value"] for k, v in stats.items()
         if not k.startswith(("timbre_", "chroma_"))}
    for k in ("timbre", "chroma"):
        m[f"{k}_max"] = max(v["value"] for n, v in stats.items() if n.startswith(f"{k}_"))
    m.update(passed=sum(v["pass"] for v in stats.values()), checked=len(stats))
    return {"fid": m}


def gather(lastfm: str, mxm: str, msd: str, cfg,
           msd_files: Iterable[Path] | None = None) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Every statistic of one side, and the count of bad records skipped per source."""
    skipped: Counter = Counter()
    stats = {**lastfm_stats(lastfm, cfg.max_tracks, skipped), **mxm_stats(mxm, cfg.max_tracks, skipped),
             **msd_stats(msd, cfg.max_msd_files, cfg.rows_per_song, cfg.seed, skipped, msd_files)}
    return stats, dict(skipped)


def run(params: dict) -> dict:
    """The DVC stage ``fidelity``: the world in ``raw.*`` against the reference files -> report, metrics, plots."""
    paths, raw, cfg = section(params, "paths"), section(params, "raw"), section(params, "fidelity")
    max_len = section(params, "expand_lyrics").max_len
    refs = {"lastfm": cfg.reference_lastfm, "mxm": cfg.reference_mxm, "msd": cfg.reference_msd}
    metrics_path, plots = Path(paths.metrics) / "fidelity.json", Path(paths.plots) / "fidelity"
    cov = coverage(count_sources(raw.lastfm, raw.mxm, listed_files(paths.msd_listing, raw.msd)[1], good))
    log.info("fidelity: coverage (world / published): %s", ", ".join(
        f"{k} {v['world']:g} / {v['published']:g}" for k, v in cov["shares"].items()))
    missing = [f"{k}: {v}" for k, v in refs.items() if not Path(v).exists()]
    if missing:
        reason = (f"reference files not found ({'; '.join(missing)}): clone the genuine samples beside the "
                  f"repository (../shared/realdata) or point fidelity.reference_* at real data; comparison skipped")
        log.warning("fidelity: %s", reason)
        out = {"stage": "fidelity", "skipped": reason, "coverage": cov}
        write_json(paths.report("fidelity"), out)
        write_json(metrics_path, {"fid": {"passed": 0, "checked": 0}})
        for name in PLOTTED:
            write_csv(plots / f"{name}.csv", ["quantile", "real", "world"], [])
        return out
    real, real_bad = gather(cfg.reference_lastfm, cfg.reference_mxm, cfg.reference_msd, cfg)
    world, world_bad = gather(raw.lastfm, raw.mxm, raw.msd, cfg, listed_files(paths.msd_listing, raw.msd)[1])
    if real_bad or world_bad:
        log.warning("fidelity: bad records skipped: reference %s, world %s", real_bad, world_bad)
    equal_corpora(real, world)
    stats = compare(real, world, max_len, cfg.ks_target, cfg.ks_target_list_length)
    for name in PLOTTED:  # quantile curves of both sides, overlaid by `dvc plots`
        qr = np.quantile(real[name], QUANTILES) if len(real[name]) else np.full(len(QUANTILES), np.nan)
        qw = np.quantile(world[name], QUANTILES) if len(world[name]) else np.full(len(QUANTILES), np.nan)
        write_csv(plots / f"{name}.csv", ["quantile", "real", "world"],
                  ([round(float(q), 3), float(a), float(b)] for q, a, b in zip(QUANTILES, qr, qw)))
    failed = sorted(k for k, v in stats.items() if not v["pass"])
    out = {"stage": "fidelity", "reference": refs, "world": {"lastfm": raw.lastfm, "mxm": raw.mxm, "msd": raw.msd},
           "passed": len(stats) - len(failed), "checked": len(stats), "failed": failed,
           "bad_records_skipped": {"reference": real_bad, "world": world_bad}, "statistics": stats, "coverage": cov}
    write_json(paths.report("fidelity"), out)
    write_json(metrics_path, compact(stats))
    log.info("fidelity: %d of %d statistics within target; worst: %s", len(stats) - len(failed), len(stats),
             ", ".join(f"{k} {stats[k]['value']}" for k in sorted(stats, key=lambda k: -stats[k]["value"])[:5]))
    return out


PLOTTED = ("lastfm_score", "lastfm_list_length", "mxm_words", "mxm_distinct_words", "msd_segments", "msd_duration",
           "msd_tempo", "msd_loudness")
