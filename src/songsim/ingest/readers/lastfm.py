"""Last.fm similarity dataset: JSON-per-track trees, the distributed zips, and lastfm_similars.db."""

from __future__ import annotations

import json
import math
import sqlite3
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from songsim.ingest.readers import BadRecord, FormatError, connect_readonly, is_track_id
from songsim.ingest.readers.zipstream import OversizedMemberError, ZipLimits, ZipMemberError, iter_zip


@dataclass(frozen=True)
class LastfmTrack:
    track_id: str
    similars: list[tuple[str, float]]
    origin: str  # train | test | subset | db | <folder name>
    where: str
    artist: str = ""
    title: str = ""
    timestamp: str = ""
    tags: list[tuple[str, int]] = field(default_factory=list)
    text_scores: bool = False  # scores are text (the SQLite variant), not JSON numbers


def _origin_of(name: str) -> str:
    stem = PurePosixPath(name).name.split(".")[0]
    return stem[len("lastfm_"):] if stem.startswith("lastfm_") else stem


def parse_track_json(text: str | bytes, where: str, origin: str) -> LastfmTrack | BadRecord:
    """Parse one Last.fm track file. Bad pairs inside a good file are kept out by the caller. Nothing
    in the file can raise: an unforeseen failure becomes ``unexpected_error`` naming the file."""
    try:
        return _parse_track_json(text, where, origin)
    except Exception as e:  # noqa: BLE001 - one bad record must not end the stage
        return BadRecord("unexpected_error", where, f"{type(e).__name__}: {e}"[:300])


def _parse_track_json(text: str | bytes, where: str, origin: str) -> LastfmTrack | BadRecord:
    try:
        obj = json.loads(text)
    except RecursionError:
        return BadRecord("malformed_json", where, "nested too deeply")
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, and integers of > 4300 digits
        return BadRecord("malformed_json", where, str(e)[:300])
    if not isinstance(obj, dict):
        return BadRecord("malformed_json", where, "top level is not an object")
    missing = [k for k in ("track_id", "similars") if k not in obj]
    if missing:
        return BadRecord("missing_key", where, f"missing {', '.join(missing)}")
    tid = obj["track_id"]
    if not is_track_id(tid):
        return BadRecord("bad_track_id", where, repr(tid))
    sims = obj["similars"]
    if not isinstance(sims, list):
        return BadRecord("malformed_json", where, "similars is not a list")
    tags = []
    for t in obj.get("tags") or []:
        if isinstance(t, list) and len(t) == 2 and isinstance(t[0], str):
            try:
                tags.append((t[0], int(t[1])))
            except (TypeError, ValueError):
                tags.append((t[0], -1))
    return LastfmTrack(
        track_id=tid,
        similars=[tuple(s) if isinstance(s, list) else s for s in sims],
        origin=origin,
        where=where,
        artist=str(obj.get("artist", "")),
        title=str(obj.get("title", "")),
        timestamp=str(obj.get("timestamp", "")),
        tags=tags,
    )


def check_pair(src: str, item: object, text_scores: bool = False) -> tuple[str, float] | str:
    """Validate one ``[track_id, score]`` entry; returns the pair or a quarantine reason. A JSON score
    must be a JSON number (not a boolean, not a string); text is the score's form only in the SQLite
    variant (``text_scores``)."""
    if not isinstance(item, tuple | list) or len(item) != 2:
        return "malformed_pair"
    tgt, score = item
    if not is_track_id(tgt):
        return "bad_target_id"
    if text_scores and isinstance(score, str):
        try:
            score = float(score)
        except ValueError:
            return "bad_score"
    if isinstance(score, bool) or not isinstance(score, int | float):
        return "bad_score"
    try:
        score = float(score)
    except OverflowError:  # an integer beyond float range (e.g. 10**400)
        return "score_out_of_range"
    if not math.isfinite(score) or score < 0.0 or score > 1.0:
        return "score_out_of_range"
    if tgt == src:
        return "self_link"
    return tgt, score


class LastfmJsonReader:
    """Reads the JSON-per-track layout from a folder tree, a zip, or a folder of zips.

    Zips are read member by member without unpacking, each inflated within ``limits`` (a member past
    them is quarantined as ``oversized_member``). A member whose path is absolute or climbs out of its
    folder (``..``) is quarantined as ``unsafe_zip_member`` and never opened. Extensions are matched
    case-insensitively; other files in a tree are listed by :meth:`unrecognised` for the report.
    """

    def __init__(self, path: str | Path, limits: ZipLimits | None = None):
        self.path = Path(path)
        self.limits = limits or ZipLimits()
        if not self.path.exists():
            raise FormatError(f"{self.path}: no such file or folder")

    def _files(self) -> list[Path]:
        return sorted(p for p in self.path.rglob("*") if p.is_file())

    def sources(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return [p for p in self._files() if p.suffix.lower() in (".json", ".zip")]

    def unrecognised(self) -> list[Path]:
        """Files in the tree that are neither ``.json`` nor ``.zip`` (skipped, and counted by the stage)."""
        if self.path.is_file():
            return []
        return [p for p in self._files() if p.suffix.lower() not in (".json", ".zip")]

    def __iter__(self) -> Iterator[LastfmTrack | BadRecord]:
        for src in self.sources():
            suffix = src.suffix.lower()
            if suffix == ".zip":
                yield from self._iter_zip(src)
            elif suffix == ".json":
                rel = src.relative_to(self.path) if self.path.is_dir() else src
                top = rel.parts[0] if len(rel.parts) > 1 else self.path.name
                yield parse_track_json(src.read_bytes(), str(src), _origin_of(top))
            else:
                raise FormatError(f"{src}: not a Last.fm .json or .zip file")

    def _iter_zip(self, path: Path) -> Iterator[LastfmTrack | BadRecord]:
        if not zipfile.is_zipfile(path):
            raise FormatError(f"{path}: not a readable zip")
        origin = _origin_of(path.name)
        try:
            for name, data in iter_zip(path, self.limits):
                if name.endswith("/"):
                    continue
                where = f"{path}!{name}"
                parts = PurePosixPath(name.replace("\\", "/")).parts
                if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                    yield BadRecord("unsafe_zip_member", where, "path escapes the archive folder")
                    continue
                if not name.lower().endswith(".json"):
                    continue
                if isinstance(data, OversizedMemberError):
                    yield BadRecord("oversized_member", where, str(data))
                    continue
                if isinstance(data, ZipMemberError):
                    yield BadRecord("corrupt_zip_member", where, str(data))
                    continue
                yield parse_track_json(data, where, origin)
        except ZipMemberError as e:
            raise FormatError(f"{path}: {e}") from e


class LastfmSqliteReader:
    """Reads ``lastfm_similars.db`` (table ``similars_src``: tid, target = "id,score,id,score,...")."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FormatError(f"{self.path}: no such file")

    def sources(self) -> list[Path]:
        return [self.path]

    def unrecognised(self) -> list[Path]:
        """Nothing is skipped: the database is one file."""
        return []

    def __iter__(self) -> Iterator[LastfmTrack | BadRecord]:
        try:
            con = connect_readonly(self.path)
            cur = con.execute("SELECT rowid, tid, target FROM similars_src ORDER BY rowid")
        except sqlite3.DatabaseError as e:
            raise FormatError(f"{self.path}: not a lastfm_similars.db ({e})") from e
        try:
            for rowid, tid, target in cur:
                where = f"{self.path}:similars_src rowid {rowid}"
                if not is_track_id(tid):
                    yield BadRecord("bad_track_id", where, repr(tid)[:80])
                    continue
                if target is not None and not isinstance(target, str):
                    yield BadRecord("bad_target_list", where, f"target is {type(target).__name__}, not text")
                    continue
                pieces = target.split(",") if target else []
                if len(pieces) % 2:
                    yield BadRecord("odd_target_list", where, f"{len(pieces)} comma-separated pieces")
                    continue
                sims = [(pieces[i], pieces[i + 1]) for i in range(0, len(pieces), 2)]
                yield LastfmTrack(track_id=tid, similars=sims, origin="db", where=where, text_scores=True)
        finally:
            con.close()


def open_lastfm(path: str | Path, limits: ZipLimits | None = None) -> LastfmJsonReader | LastfmSqliteReader:
    """Pick the reader for a path: ``.db`` -> SQLite, anything else -> JSON trees / zips."""
    p = Path(path)
    if p.suffix.lower() == ".db":
        return LastfmSqliteReader(p)
    return LastfmJsonReader(p, limits)
