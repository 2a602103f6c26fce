"""The service's model slots: the old index serves while its folder is deleted and rewritten file by file,
and the new one is switched to only once complete; the song search.

A rebuilt folder is told from the loaded one by its manifest's (mtime, size): the tests give each manifest
they write its own mtime (``os.utime``) rather than sleeping past the file system's timestamp resolution,
and wait for a condition (with a generous bound), never for a fixed time."""

from __future__ import annotations

import os
import shutil
import threading
import time

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from songsim.core.config import read_params, section
from songsim.core.writers import write_json, write_table
from songsim.serve.recommender import Recommender
from songsim.serve.retrieval import IDS, INDEX, MANIFEST, VECTORS, read_manifest
from songsim.serve.service import ModelSlot, SongSearch


def _slot(tmp_path, tiny_run):
    path, _ = tiny_run
    params = read_params(path)
    paths = section(params, "paths")
    files = paths.model_files("fused")
    index = tmp_path / "index"
    shutil.copytree(files["index"], index)
    ckpt = tmp_path / "fused.pt"
    shutil.copy(files["ckpt"], ckpt)
    cfg = section(params, "retrieval")

    def load():
        return Recommender(index, ckpt, paths.songs, cfg.candidates, cfg.ef_search)

    return ModelSlot("fused", index, ckpt, load), files["index"]


SECOND = 1_000_000_000


def _publish_manifest(folder, man, mtime_ns):
    """Write ``folder``'s manifest at once (temp file, then rename) with the modification time ``mtime_ns``."""
    tmp = folder / ".manifest.json.test.tmp"
    write_json(tmp, man)
    os.utime(tmp, ns=(mtime_ns, mtime_ns))
    os.replace(tmp, folder / MANIFEST)


def _manifest_mtime(folder):
    return (folder / MANIFEST).stat().st_mtime_ns


def _rewrite(src, dst, keep, steps, mtime_ns):
    """Write a smaller catalog (rows ``keep`` of ``src``) into ``dst`` the way the index stage does: files one
    by one, the manifest last (with mtime ``mtime_ns``); ``steps`` is called after each file."""
    import faiss

    from songsim.serve.retrieval import ranking_space

    man = read_manifest(src)
    vecs = np.load(src / VECTORS)[keep]
    ids = pl.read_parquet(src / IDS)["track_id"].to_numpy()[keep]
    space = ranking_space(vecs, man["blocks"], man.get("rank_weights"))
    index = faiss.IndexHNSWFlat(space.shape[1], 8, faiss.METRIC_INNER_PRODUCT)
    index.add(space)
    faiss.write_index(index, str(dst / INDEX))
    steps()
    np.save(dst / VECTORS, vecs)
    steps()
    write_table(pa.table({"track_id": pa.array(ids.tolist(), pa.string())}), dst / IDS)
    steps()
    _publish_manifest(dst, {**man, "songs": len(keep)}, mtime_ns)
    steps()


def test_old_index_serves_until_the_rebuilt_folder_is_complete(tmp_path, tiny_run):
    slot, src = _slot(tmp_path, tiny_run)
    rec0 = slot.current.rec
    q = rec0.ids[0]
    before = [h.track_id for h in rec0.similar(q, 5)]
    n = len(rec0.ids)
    t0 = _manifest_mtime(slot.index_dir)
    shutil.rmtree(slot.index_dir)  # dvc repro deletes a stage's outputs before running it
    slot.index_dir.mkdir()
    assert not slot.poll()
    answers = []

    def step():
        answers.append([h.track_id for h in slot.current.rec.similar(q, 5)])
        assert not slot.poll() or (slot.index_dir / MANIFEST).exists()

    keep = np.r_[0, np.arange(6, n)]  # a catalog without rows 1..5
    _rewrite(src, slot.index_dir, keep, step, t0 + SECOND)
    assert answers[:3] == [before] * 3  # the old index answered while the files came one by one
    assert slot.reloads == 1 and slot.current.rec is not rec0
    assert len(slot.current.rec.ids) == len(keep)
    assert not set(rec0.ids[1:6]) & set(slot.current.rec.ids)
    # each step answers before it polls: the first answer from the new index comes after the last step
    after = [h.track_id for h in slot.current.rec.similar(q, 5)]
    assert all(t in slot.current.rec.ids for t in after)
    assert not slot.poll() and slot.reloads == 1  # the folder now served is not loaded again


def test_half_written_folder_is_refused_and_retried(tmp_path, tiny_run):
    slot, src = _slot(tmp_path, tiny_run)
    rec0 = slot.current.rec
    man = read_manifest(slot.index_dir)
    t0 = _manifest_mtime(slot.index_dir)
    # each manifest below has the loaded one's size: only its mtime tells the folder changed
    _publish_manifest(slot.index_dir, {**man, "songs": man["songs"] - 1}, t0 + SECOND)  # another build's
    assert not slot.poll()
    assert slot.current.rec is rec0 and slot.failed_reloads == 1 and "half written" in slot.last_error
    _publish_manifest(slot.index_dir, {**man, "checkpoint_sha256": "0" * 64}, t0 + 2 * SECOND)
    assert not slot.poll() and "not the checkpoint" in slot.last_error and slot.failed_reloads == 2
    assert not slot.poll(retry_after=3600) and slot.failed_reloads == 2  # the refused folder is not reloaded at once
    assert not slot.poll(retry_after=0) and slot.failed_reloads == 3  # ... but once retry_after has passed
    assert slot.current.rec is rec0
    _publish_manifest(slot.index_dir, man, t0 + 3 * SECOND)  # the build completes
    assert slot.poll() and slot.last_error is None and slot.current.rec is not rec0
    assert slot.reloads == 1 and not slot.poll()  # the same folder is not loaded twice


def test_answers_never_fail_while_a_watcher_swaps_indexes(tmp_path, tiny_run):
    from songsim.serve.service import Watcher

    slot, src = _slot(tmp_path, tiny_run)
    q = slot.current.rec.ids[0]
    n = len(slot.current.rec.ids)
    t0 = _manifest_mtime(slot.index_dir)
    polls, real_poll = [0], slot.poll

    def counted_poll():
        polls[0] += 1
        return real_poll()

    slot.poll = counted_poll  # what the watcher calls
    watcher = Watcher({"fused": slot}, 0.01)
    watcher.start()
    errors, answered = [], [0]
    stop = threading.Event()

    def until(condition, what, bound=60.0):
        """Wait for ``condition()`` (a generous bound: a hang fails the test instead of blocking it)."""
        deadline = time.monotonic() + bound
        while not condition():
            assert time.monotonic() < deadline, f"{what}: not within {bound} s (errors: {errors[:3]})"
            time.sleep(0.001)

    def answers_meanwhile():  # after each file written: the client answers (at least twice) before the next
        start = answered[0]
        until(lambda: answered[0] >= start + 2 or errors, "answers while the folder is rewritten")

    def client():
        while not stop.is_set():
            try:
                assert len(slot.current.rec.similar(q, 5)) == 5
                answered[0] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    t = threading.Thread(target=client)
    t.start()
    try:
        for round_ in range(3):
            shutil.rmtree(slot.index_dir)
            slot.index_dir.mkdir()
            _rewrite(src, slot.index_dir, np.arange(0, n - round_ - 1), answers_meanwhile,
                     t0 + (round_ + 1) * SECOND)
            until(lambda r=round_: slot.reloads >= r + 1, f"the watcher's switch to rebuild {round_ + 1}")
            assert len(slot.current.rec.ids) == n - round_ - 1
        seen = polls[0]
        until(lambda: polls[0] >= seen + 3, "three more looks at the folder")  # a loaded folder is not reloaded
    finally:
        stop.set()
        t.join()
        watcher.stop()
        watcher.join(10)
    assert not errors and answered[0] >= 3 * 4 * 2  # 3 rebuilds of 4 files, 2 answers or more after each
    assert slot.reloads == 3 and slot.failed_reloads == 0 and len(slot.current.rec.ids) == n - 3


def test_watcher_polls_every_slot_and_stops():
    """The watcher polls each slot until stopped; it can then be joined (a Thread subclass must not shadow
    Thread._stop, which join() and is_alive() call)."""
    from songsim.serve.service import Watcher

    polls = {"a": 0, "b": 0}

    class Slot:
        def __init__(self, name):
            self.name = name

        def poll(self):
            polls[self.name] += 1
            return False

    watcher = Watcher({"a": Slot("a"), "b": Slot("b")}, 0.001)
    watcher.start()
    deadline = time.monotonic() + 60
    while min(polls.values()) < 3:
        assert time.monotonic() < deadline, polls
        time.sleep(0.001)
    watcher.stop()
    watcher.join(10)
    assert not watcher.is_alive() and watcher.daemon
    after = dict(polls)
    watcher.join(0)
    assert polls == after  # no poll once stopped


def test_song_search_prefix_first_and_bounded():
    songs = pl.DataFrame({"track_id": ["TRA1", "TRB2", "TRC3", "TRD4"],
                          "artist": ["Abba", "The Abbots", None, "Zed"],
                          "title": ["Waterloo", "Abbey", "No Artist", "Zzz"]})
    s = SongSearch(songs, {"fused": {"TRA1", "TRB2"}})
    got = s.search("abb", 10)
    assert [r["track_id"] for r in got] == ["TRA1", "TRB2"]  # prefix of an artist first, then substring
    assert got[0]["models"] == ["fused"] and s.search("no artist", 10)[0]["models"] == []
    assert s.search("  ", 10) == [] and len(s.search("tr", 3)) == 3
    assert s.search("TRC3", 1)[0]["artist"] is None


LITERAL = pl.DataFrame({  # each query below is in one row only, read literally (not as a pattern)
    "track_id": ["TR1", "TR2", "TR3", "TR4", "TR5", "TR6", "TR7"],
    "artist": ["a(b", "[a-z] band", "ab", "back\\slash", "Ärzte ÄÖ", None, "zed"],
    "title": ["x", "y", "Star*", "z", "w", "漢字の歌", "aaa-"]})


@pytest.mark.parametrize("q,want", [
    ("(", ["TR1"]),  # an unbalanced group as a pattern
    ("[a-", ["TR2"]),  # an unclosed class (as a pattern, "[a-z]" would match nearly every row)
    ("*", ["TR3"]),  # a bare quantifier
    ("\\", ["TR4"]),  # a lone escape
    ("ÄÖ", ["TR5"]),  # non-ASCII, compared without case: "äö" matches too
    ("äö", ["TR5"]),
    ("漢字", ["TR6"]),
    ("A", ["TR1", "TR3", "TR7", "TR2", "TR4"]),  # prefix matches first (TR7 by its title), then by artist
])
def test_song_search_takes_text_literally(q, want):
    s = SongSearch(LITERAL, {"fused": {"TR3", "TR6"}})
    got = s.search(q, 10)
    assert [r["track_id"] for r in got] == want
    assert [r["models"] for r in got] == [["fused"] if t in ("TR3", "TR6") else [] for t in want]
