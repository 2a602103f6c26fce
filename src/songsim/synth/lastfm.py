"""Writers of the Last.fm dataset formats (the mirror of ``ingest.readers.lastfm``): per-track JSON files inside the
``lastfm_{train,test}.zip`` archives, and ``lastfm_similars.db``."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

from songsim.core.writers import AtomicWriter

ZIP_DATE = (2011, 8, 1, 0, 0, 0)  # fixed member time stamp: the same world gives the same archive bytes


def format_score(x: float) -> str:
    """A similarity as the real files print it (shortest repr, ``1`` for the top score)."""
    return "1" if x >= 1.0 else f"{x:.17g}"


def track_json(track: str, artist: str, title: str, sims: list[tuple[str, float]],
               tags: list[tuple[str, int]], timestamp: str) -> str:
    """One Last.fm track file: a single line, keys in the real order, ASCII with \\u escapes."""
    sim_txt = ", ".join(f"[{json.dumps(t)}, {format_score(s)}]" for t, s in sims)
    tag_txt = ", ".join(f"[{json.dumps(t)}, {json.dumps(str(c))}]" for t, c in tags)
    return (f'{{"artist": {json.dumps(artist)}, "timestamp": {json.dumps(timestamp)}, '
            f'"similars": [{sim_txt}], "tags": [{tag_txt}], "track_id": {json.dumps(track)}, '
            f'"title": {json.dumps(title)}}}')


def member_name(origin: str, track: str) -> str:
    """``lastfm_<origin>/A/B/C/TRABC....json``, as in the distributed archives."""
    return f"lastfm_{origin}/{track[2]}/{track[3]}/{track[4]}/{track}.json"


class LastfmZipWriter(AtomicWriter):
    """``lastfm_<origin>.zip`` (deflated members), appearing atomically on close."""

    def __init__(self, path: str | Path, origin: str):
        super().__init__(path)
        self.origin = origin
        self._zf = zipfile.ZipFile(self.tmp, "w", zipfile.ZIP_DEFLATED)

    def add(self, track: str, text: str) -> None:
        info = zipfile.ZipInfo(member_name(self.origin, track), date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self._zf.writestr(info, text)

    def _finish(self, ok: bool) -> None:
        self._zf.close()


class LastfmDbWriter(AtomicWriter):
    """lastfm_similars.db, written as the tracks are generated: ``similars_src`` rows are inserted
    directly, ``similars_dest`` is built inside SQLite from a scratch pair table (nothing held in memory)."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        self.con = sqlite3.connect(self.tmp)
        self.con.execute("CREATE TABLE similars_src (tid TEXT, target TEXT)")
        self.con.execute("CREATE TABLE similars_dest (tid TEXT, target TEXT)")
        self.con.execute("CREATE TEMP TABLE pairs (src TEXT, tgt TEXT, score TEXT, k INTEGER)")

    def add(self, tid: str, sims: list[tuple[str, float]]) -> None:
        self.con.execute("INSERT INTO similars_src VALUES (?, ?)", (tid, ",".join(f"{t},{x}" for t, x in sims)))
        self.con.executemany("INSERT INTO pairs VALUES (?, ?, ?, ?)",
                             ((tid, t, str(x), k) for k, (t, x) in enumerate(sims)))

    def _finish(self, ok: bool) -> None:
        if ok:
            # for each target, the sources that list it with the score they gave, in insertion order
            self.con.execute(
                "INSERT INTO similars_dest SELECT tgt, group_concat(src || ',' || score, ',') "
                "FROM (SELECT * FROM pairs ORDER BY tgt, rowid) GROUP BY tgt ORDER BY tgt")
            self.con.execute("DROP TABLE pairs")
            self.con.execute("CREATE INDEX idx_src ON similars_src (tid)")
            self.con.execute("CREATE INDEX idx_dest ON similars_dest (tid)")
            self.con.commit()
        self.con.close()
