"""What ``songsim serve`` serves, apart from HTTP: the loaded models (one :class:`Recommender` each, swapped
for a new one only once a rebuilt index folder is complete), the song search, and the request checks.

A model's slot keeps answering from the index it loaded while ``dvc repro`` deletes and rewrites the index
folder (the HNSW graph and the track ids are in memory; the song vectors are memory-mapped, and a mapped
file that is deleted stays readable until it is unmapped). A watcher looks at the folder every few
seconds; when its ``manifest.json`` (written last by ``index@<model>``) has changed and the folder is
complete (every file there, the index, the vectors and the ids each holding the manifest's number of
songs, the checkpoint's SHA-256 the one the manifest names), a new recommender is loaded beside the old
one and replaces it in one assignment. An incomplete or unreadable folder is retried at the next look
and the old index serves meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from songsim.core.writers import file_sha256
from songsim.serve.recommender import Recommender, shown_decimals
from songsim.serve.retrieval import MANIFEST

log = logging.getLogger(__name__)

MAX_K = 100  # results per query
MAX_BATCH = 64  # track ids per POST /similar
MAX_ID_LEN = 64  # a track id is 18 characters; anything much longer is refused before any look-up
MAX_QUERY_LEN = 200  # characters of a /search query
MAX_SEARCH = 50  # results of a /search


class RequestError(ValueError):
    """A request the service refuses: ``status`` (4xx), ``kind`` (a stable name, counted in /metrics), the
    message, and ``extra`` fields for the client (closest ids, models that can serve a song)."""

    def __init__(self, status: int, kind: str, message: str, **extra):
        super().__init__(message)
        self.status, self.kind, self.extra = status, kind, extra


def folder_signature(folder: Path) -> tuple[int, int] | None:
    """``manifest.json``'s (mtime_ns, size), or None while it is absent (the stage has not finished)."""
    try:
        st = (folder / MANIFEST).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def check_complete(rec: Recommender, checkpoint: Path | None) -> None:
    """Raise when a freshly loaded index folder does not hold one complete build."""
    n = int(rec.manifest["songs"])
    got = {"index": int(rec.index.ntotal), "vectors": int(rec.vectors.shape[0]), "ids": len(rec.ids)}
    if rec.neighbours is not None:  # each song's precomputed answer, one row per song
        got |= {"neighbours": int(rec.neighbours.shape[0]), "neighbour_scores": int(rec.neighbour_scores.shape[0])}
    if any(v != n for v in got.values()):
        raise ValueError(f"index folder half written: manifest says {n} songs, found {got}")
    want = rec.manifest.get("checkpoint_sha256")
    if checkpoint is not None and want and file_sha256(checkpoint) != want:
        raise ValueError(f"{checkpoint} is not the checkpoint the index was built from (rebuild in progress)")


@dataclass
class Loaded:
    rec: Recommender
    signature: tuple[int, int] | None
    loaded_at: float


class ModelSlot:
    """One model: the recommender in service, and the reload of a rebuilt index folder."""

    def __init__(self, name: str, index_dir: str | Path, checkpoint: str | Path | None,
                 load: Callable[[], Recommender]):
        self.name, self.index_dir = name, Path(index_dir)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self._load = load
        self.reloads = 0
        self.failed_reloads = 0
        self.last_error: str | None = None
        self._failed: tuple[tuple[int, int], float] | None = None  # (signature, when) of the last refused folder
        self._lock = threading.Lock()
        self.current = self._fresh()

    def _fresh(self) -> Loaded:
        sig = folder_signature(self.index_dir)
        rec = self._load()
        check_complete(rec, self.checkpoint)
        if folder_signature(self.index_dir) != sig:  # rewritten while we read it: not one build
            raise ValueError(f"{self.index_dir} changed while it was being loaded")
        return Loaded(rec, sig, time.time())

    def poll(self, retry_after: float = 10.0) -> bool:
        """Load the folder again if it changed and is complete; True when the new index is now served. A
        folder refused once is tried again when its manifest changes, or after ``retry_after`` seconds."""
        sig = folder_signature(self.index_dir)
        if sig is None or sig == self.current.signature:
            return False
        if self._failed and self._failed[0] == sig and time.time() - self._failed[1] < retry_after:
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            fresh = self._fresh()
        except Exception as e:  # noqa: BLE001 - a half-written folder: keep serving the old index
            self._failed = (sig, time.time())
            self.failed_reloads += 1
            self.last_error = f"{type(e).__name__}: {e}"
            log.info("%s: index folder not ready (%s); still serving the index loaded at %s", self.name,
                     self.last_error, time.ctime(self.current.loaded_at))
            return False
        finally:
            self._lock.release()
        self.current = fresh  # one assignment: a request sees the old or the new recommender, whole
        self.reloads += 1
        self.last_error, self._failed = None, None
        log.info("%s: now serving the rebuilt index (%d songs)", self.name, len(fresh.rec.ids))
        return True

    def status(self) -> dict:
        cur = self.current
        return {"songs": len(cur.rec.ids), "loaded_at": cur.loaded_at, "reloads": self.reloads,
                "failed_reloads": self.failed_reloads, "last_error": self.last_error,
                "index": str(self.index_dir)}


class Watcher(threading.Thread):
    """Polls every slot's index folder every ``interval`` seconds (a daemon thread)."""

    def __init__(self, slots: dict[str, ModelSlot], interval: float):
        super().__init__(name="songsim-index-watcher", daemon=True)
        self.slots, self.interval = slots, interval
        self._halt = threading.Event()  # not ``_stop``: threading.Thread's join() and is_alive() call a _stop()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            for slot in self.slots.values():
                slot.poll()

    def stop(self) -> None:
        self._halt.set()


class _Served:
    """``track_id in _Served(slot)``: whether the index the slot serves now holds the track."""

    def __init__(self, slot: ModelSlot):
        self.slot = slot

    def __contains__(self, track_id: object) -> bool:
        return track_id in self.slot.current.rec.ids


class SongSearch:
    """Case-insensitive substring search over track id, artist and title; prefix matches first."""

    def __init__(self, songs: pl.DataFrame, servable: Mapping[str, Container[str]]):
        self.songs = songs.select("track_id", "artist", "title")
        self.hay = self.songs.select(
            pl.concat_str([pl.col("track_id"), pl.col("artist").fill_null(""), pl.col("title").fill_null("")],
                          separator="\n").str.to_lowercase().alias("hay"))["hay"]
        self.servable = servable

    @classmethod
    def from_table(cls, songs_path: str | Path | None, slots: dict[str, ModelSlot]) -> SongSearch:
        servable = {name: _Served(slot) for name, slot in slots.items()}  # asks the index in service now
        if songs_path is not None and Path(songs_path).exists():
            songs = pl.read_parquet(songs_path, columns=["track_id", "artist", "title"])
        else:  # no metadata table: search the ids the indexes hold
            ids = sorted(set().union(*(slot.current.rec.ids for slot in slots.values()))) if slots else []
            songs = pl.DataFrame({"track_id": ids, "artist": [None] * len(ids), "title": [None] * len(ids)},
                                 schema={"track_id": pl.String, "artist": pl.String, "title": pl.String})
        return cls(songs, servable)

    def search(self, q: str, limit: int) -> list[dict]:
        q = q.strip().lower()
        if not q:
            return []
        hit = self.hay.str.contains(q, literal=True)
        rows = self.songs.filter(hit).with_columns(
            (~(pl.col("track_id").str.to_lowercase().str.starts_with(q)
               | pl.col("artist").fill_null("").str.to_lowercase().str.starts_with(q)
               | pl.col("title").fill_null("").str.to_lowercase().str.starts_with(q))).alias("_later"))
        rows = rows.sort(["_later", "artist", "title"], nulls_last=True).head(limit)
        return [{"track_id": r["track_id"], "artist": r["artist"], "title": r["title"],
                 "models": sorted(m for m, ids in self.servable.items() if r["track_id"] in ids)}
                for r in rows.iter_rows(named=True)]


def check_track_id(track_id: object) -> str:
    """A track id from a request: a string, not empty, at most ``MAX_ID_LEN`` characters."""
    if not isinstance(track_id, str) or not track_id.strip():
        raise RequestError(422, "bad_track_id", "track_id must be a non-empty string")
    if len(track_id) > MAX_ID_LEN:
        raise RequestError(422, "bad_track_id", f"track_id is {len(track_id)} characters; at most {MAX_ID_LEN}")
    return track_id.strip()


def hits_json(hits: list) -> list[dict]:
    d = shown_decimals(hits, least=6)  # no two different ranking scores shown alike
    return [{"rank": h.rank, "track_id": h.track_id, "artist": h.artist, "title": h.title,
             "score": round(float(h.score), d), "rank_score": round(float(h.rank_score), d)}
            | ({"why": h.why} if h.why is not None else {}) for h in hits]


def song_json(rec: Recommender, track_id: str) -> dict:
    _, artist, title = rec.meta.get(track_id, (None, None, None))
    return {"track_id": track_id, "artist": artist, "title": title}

