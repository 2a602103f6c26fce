"""The dataset-level half of the fidelity report: which share of the tracks each source covers, counted from
the raw files the readers read, next to the published figures (``songsim.core.published``).

The tracks are the ids of every file of the three sources: a Last.fm JSON file, a musiXmatch line, an MSD
``.h5`` file (in the real data, the MSD's 1,000,000, each with its ``.h5`` file). Over them: the share with a
Last.fm file, with lyrics, with audio; the share of the Last.fm files whose similar list is not empty; the
share of the musiXmatch tracks in its test file; and the similars per non-empty list. Each comes with its
published value, the absolute gap, the binomial standard error of a share drawn at the published value
over this many tracks (a world drawn with the published coverage lands within a few of them), and the
published source. The counts reconcile: every sum the report implies is checked before it is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from songsim.core.published import PUBLISHED, SOURCES
from songsim.ingest.readers.lastfm import open_lastfm
from songsim.ingest.readers.mxm import MxmReader

TOLERANCE_SE = 4.0  # "within": a gap of at most this many standard errors (one share in ~16,000 is further)


def count_sources(lastfm: str | Path, mxm: str | Path, msd_files: Iterable[Path],
                  good: Callable) -> dict:
    """The counts every share is made of. ``good(records, skipped, source)`` drops (and counts) bad records."""
    skipped: Counter = Counter()
    lf_ids, lf_files, lf_empty, lf_pairs = set(), 0, 0, 0
    for rec in good(open_lastfm(lastfm), skipped, "lastfm"):
        lf_ids.add(rec.track_id)
        lf_files += 1
        lf_empty += not rec.similars
        lf_pairs += len(rec.similars)
    mx_ids, mx_lines, mx_test = set(), 0, 0
    for rec in good(MxmReader(mxm), skipped, "mxm"):
        mx_ids.add(rec.track_id)
        mx_lines += 1
        mx_test += rec.split in ("test", "db:test")
    au_ids, au_files = set(), 0
    for f in msd_files:
        au_ids.add(Path(f).stem)
        au_files += 1
    every = lf_ids | mx_ids | au_ids
    combos = Counter("+".join(k for k, ids in (("lastfm", lf_ids), ("lyrics", mx_ids), ("audio", au_ids))
                              if t in ids) for t in every)
    return {"tracks": len(every), "sources_per_track": dict(sorted(combos.items())),
            "lastfm_files": lf_files, "lastfm_tracks": len(lf_ids), "lastfm_nonempty_lists": lf_files - lf_empty,
            "lastfm_empty_lists": lf_empty, "lastfm_pairs": lf_pairs,
            "mxm_lines": mx_lines, "mxm_tracks": len(mx_ids), "mxm_train": mx_lines - mx_test, "mxm_test": mx_test,
            "msd_files": au_files, "msd_tracks": len(au_ids), "bad_records_skipped": dict(skipped)}


def reconcile(c: dict) -> list[str]:
    """The sums the counts must satisfy; an empty list when every one holds."""
    combos = c["sources_per_track"]
    checks = {
        "tracks = sum of sources_per_track": c["tracks"] == sum(combos.values()),
        "lastfm_files = nonempty + empty lists":
            c["lastfm_files"] == c["lastfm_nonempty_lists"] + c["lastfm_empty_lists"],
        "mxm_lines = train + test": c["mxm_lines"] == c["mxm_train"] + c["mxm_test"],
        "no list holds pairs when every list is empty": c["lastfm_nonempty_lists"] > 0 or c["lastfm_pairs"] == 0,
    }
    for src, n in (("lastfm", c["lastfm_tracks"]), ("lyrics", c["mxm_tracks"]), ("audio", c["msd_tracks"])):
        checks[f"{src} tracks = sum of the combinations holding {src}"] = \
            n == sum(v for k, v in combos.items() if src in k.split("+"))
    return [k for k, ok in checks.items() if not ok]


def _share(count: int, of: int, name: str) -> dict:
    published = getattr(PUBLISHED, name)
    world = count / of if of else float("nan")
    se = float(np.sqrt(published * (1 - published) / of)) if of else float("nan")
    gap = abs(world - published)
    return {"world": round(world, 4), "count": count, "of": of, "published": published, "gap": round(gap, 4),
            "se": round(se, 4), "within": bool(gap <= TOLERANCE_SE * se + 1e-9), "source": SOURCES[name][2]}


def coverage(c: dict) -> dict:
    """The report's ``coverage`` section from :func:`count_sources`' counts."""
    bad = reconcile(c)
    if bad:
        raise AssertionError(f"coverage counts do not add up: {'; '.join(bad)} ({c})")
    listed = c["lastfm_nonempty_lists"]
    num, den, source = SOURCES["pairs_per_list"]
    per_list = c["lastfm_pairs"] / listed if listed else float("nan")
    shares = {
        "lastfm": _share(c["lastfm_tracks"], c["tracks"], "lastfm"),
        "lists": _share(listed, c["lastfm_files"], "lists"),
        "lyrics": _share(c["mxm_tracks"], c["tracks"], "lyrics"),
        "audio": _share(c["msd_tracks"], c["tracks"], "audio"),
        "mxm_test": _share(c["mxm_test"], c["mxm_lines"], "mxm_test"),
        "pairs_per_list": {"world": round(per_list, 2), "count": c["lastfm_pairs"], "of": listed,
                           "published": round(num / den, 2), "gap": round(abs(per_list - num / den), 2),
                           "source": source},
    }
    return {"tracks": "ids of every Last.fm file, musiXmatch line and MSD .h5 file (real data: the MSD's)",
            "within": f"gap <= {TOLERANCE_SE:g} binomial standard errors at the published share",
            "shares": shares, "counts": c}
