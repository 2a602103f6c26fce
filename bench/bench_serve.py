"""`songsim serve` under load (issues 20 and 34): 1M generated song vectors behind the real service, 32
concurrent clients on the loopback address, then the same load while the index folder is rebuilt.

    python bench/bench_serve.py                      1M songs (the index and its neighbour lists are built once)
    python bench/bench_serve.py --songs 100000       a quicker check

The index folder is the real format (``index.faiss`` HNSW over the ranking space with the params'
``retrieval`` settings, ``vectors.npy``, ``ids.parquet``, ``neighbours.npy``, ``neighbour_scores.npy``,
``manifest.json``) over vectors generated at the
committed fused model's width (``bench_retrieval.catalog``: a mixture of clusters, like trained
embeddings), with a song table of the same 1M tracks, and the committed fused checkpoint (its ranking
weights and calibration), and every song's neighbour list. The service runs as ``songsim serve`` in
its own process: the default (one worker, answers on a thread beside the event loop) serving from the index folder's
neighbour lists (every song's answer computed by the index stage: a query by id is a look-up), against
the baseline in the same session, the same folder without the lists (every query through the HNSW
index, as before issue 34), twice each, alternating; then songs asked by their lyrics
(``POST /similar/content``: the model encodes each) on the same server. The
load comes from one asyncio process with 32 keep-alive connections, each sending its next
``GET /similar?track_id=<random catalog song>&k=10`` as soon as the previous answer arrives (closed loop,
no think time: the hardest load 32 clients can make), bounded by ``--requests`` and ``--seconds``. Both
share the machine's 2 cores, so the figures include the client's own CPU. The rebuild phase rewrites
the index folder the way ``dvc repro`` does (folder deleted, files written one by one, the manifest last)
while the load runs, and records the switch and every answer's status.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retrieval import catalog  # noqa: E402
from common import OUT, save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def build_folder(root: Path, n: int) -> Path:
    """The index folder of ``n`` generated songs for the committed fused model, and its song table (once)."""
    import faiss
    import pyarrow as pa

    from songsim.core import schemas
    from songsim.core.config import RetrievalConfig
    from songsim.core.writers import ParquetStreamWriter, file_sha256, write_json, write_table
    from songsim.serve.retrieval import (
        IDS,
        INDEX,
        MANIFEST,
        NEIGHBOUR_SCORES,
        NEIGHBOURS,
        VECTORS,
        build_index,
        neighbour_lists,
        ranking_space,
    )

    folder = root / "index" / "fused"
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    cfg = RetrievalConfig(**{**params["retrieval"], "build_threads": 2})
    if (folder / MANIFEST).exists():
        if not (folder / NEIGHBOURS).exists():  # a folder of an earlier version of this bench
            t = time.perf_counter()
            rows, scores = neighbour_lists(faiss.read_index(str(folder / INDEX)), cfg)
            print(f"neighbour lists of {n} songs in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            np.save(folder / NEIGHBOURS, rows)
            np.save(folder / NEIGHBOUR_SCORES, scores)
        return folder
    demo = json.loads((ROOT / "data" / "index" / "fused" / MANIFEST).read_text())
    folder.mkdir(parents=True, exist_ok=True)
    vecs = catalog(n, demo["dim"])
    ids = np.array([f"TRBENCH{i:011d}" for i in range(n)])
    t = time.perf_counter()
    index = build_index(ranking_space(vecs, demo["blocks"], demo.get("rank_weights")), cfg)
    print(f"index of {n} songs built in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    faiss.write_index(index, str(folder / INDEX))
    t = time.perf_counter()
    rows, scores = neighbour_lists(index, cfg)  # what the index stage computes: every song's answer
    print(f"neighbour lists of {n} songs in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    np.save(folder / NEIGHBOURS, rows)
    np.save(folder / NEIGHBOUR_SCORES, scores)
    np.save(folder / VECTORS, vecs)
    write_table(pa.table({"track_id": pa.array(ids.tolist(), pa.string())}), folder / IDS)
    with ParquetStreamWriter(root / "songs.parquet", schemas.SONGS) as w:
        for s in range(0, n, 100_000):
            i = np.arange(s, min(n, s + 100_000))
            w.write({"track_id": ids[i].tolist(), "artist_id": [f"AR{k // 8:016d}" for k in i],
                     "artist": [f"Artist {k // 8}" for k in i], "title": [f"Song {k}" for k in i],
                     "year": np.full(len(i), 2000, np.int16)})
    write_json(folder / MANIFEST, {**demo, "songs": n, "checkpoint_sha256": file_sha256(ROOT / "models" / "fused.pt"),
                                   "neighbours": int(rows.shape[1])})
    return folder


def live_folder(root: Path, folder: Path) -> Path:
    """The same index folder without the neighbour lists (links to its files): served live, through the
    HNSW index on every query, as before issue 34 (the baseline)."""
    from songsim.serve.retrieval import IDS, INDEX, MANIFEST, VECTORS

    live = root / "index_live" / "fused"
    live.mkdir(parents=True, exist_ok=True)
    for name in (INDEX, VECTORS, IDS, MANIFEST):
        if not (live / name).exists():
            os.symlink(folder / name, live / name)
    return live


def params_for(root: Path, index: str = "index") -> Path:
    """The repo's params with the index folder (``root / index``) and song table under ``root``
    (checkpoint, lyrics and audio tables from the committed run)."""
    p = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))
    p["paths"] = {k: str(ROOT / v) for k, v in p["paths"].items()}
    p["paths"].update(index=str(root / index), songs=str(root / "songs.parquet"))
    path = root / f"params_{index}.yaml"
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.loads(r.read())


def start_server(params: Path, port: int, workers: int, threads: int = 1) -> tuple[subprocess.Popen, float]:
    cmd = [sys.executable, "-m", "songsim.cli", "serve", "--params", str(params), "--models", "fused",
           "--port", str(port), "--workers", str(workers), "--answer-threads", str(threads), "--watch-interval", "1"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            get_json(base, "/healthz")
            return proc, time.perf_counter() - t
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"songsim serve exited: {proc.stderr.read()[-3000:]}") from None
            time.sleep(0.5)


def request_bytes(what: str | tuple[str, bytes]) -> bytes:
    """A GET of a path, or a POST of (path, JSON body)."""
    if isinstance(what, str):
        return f"GET {what} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    path, body = what
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _client(port: int, paths: list, start: int, stride: int, deadline: float, out: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = start
    try:
        while i < len(paths) and time.perf_counter() < deadline:
            req = request_bytes(paths[i])
            t = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            out.append((t, time.perf_counter() - t, status))
            i += stride
    finally:
        writer.close()


async def _load(port: int, paths: list[str], clients: int, seconds: float) -> list:
    out: list = []
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(_client(port, paths, c, clients, deadline, out) for c in range(clients)))
    return out


def peak_rss_mib(pid: int) -> int:
    """VmHWM of a server process plus that of its worker processes (uvicorn ``--workers``), MiB."""
    def hwm(p: int) -> int:
        try:
            return int(next(line.split()[1] for line in open(f"/proc/{p}/status") if line.startswith("VmHWM")))
        except (OSError, StopIteration):
            return 0
    children = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int(open(d / "stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return (hwm(pid) + sum(hwm(c) for c in children)) // 1024


def summarise(rows: list, t0: float | None = None, t1: float | None = None) -> dict:
    if t0 is not None:
        rows = [r for r in rows if t0 <= r[0] <= t1]
    lat = np.array([r[1] for r in rows]) * 1000
    span = (max(r[0] + r[1] for r in rows) - min(r[0] for r in rows)) if rows else 0.0
    errors = sum(r[2] != 200 for r in rows)
    pct = (lambda q: round(float(np.percentile(lat, q)), 2)) if len(lat) else (lambda q: None)
    return {"requests": len(rows), "errors": int(errors), "throughput_per_s": round(len(rows) / max(span, 1e-9), 1),
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": pct(100)}


def rebuild(folder: Path, spare: Path) -> float:
    """Rewrite ``folder`` from ``spare`` as ``dvc repro`` would: delete it, then each file, the manifest last."""
    from songsim.serve.retrieval import IDS, INDEX, MANIFEST, NEIGHBOUR_SCORES, NEIGHBOURS, VECTORS

    t = time.time()
    shutil.rmtree(folder)
    folder.mkdir()
    for name in (INDEX, VECTORS, IDS, NEIGHBOURS, NEIGHBOUR_SCORES, MANIFEST):
        tmp = folder / f".{name}.tmp"
        shutil.copyfile(spare / name, tmp)
        os.replace(tmp, folder / name)
    return t


def content_phase(port: int, args: argparse.Namespace) -> dict:
    """POST /similar/content under the same closed-loop load: each request a different song's lyrics (50
    to 300 words drawn from the vocabulary), k = 10, the default model (its encoder runs per request)."""
    import pyarrow.parquet as pq

    words = pq.read_table(ROOT / "data" / "interim" / "vocab.parquet", columns=["word"]).column(0).to_pylist()
    rng = np.random.default_rng(1)
    bodies = [("/similar/content", json.dumps({"lyrics": " ".join(rng.choice(words, rng.integers(50, 300))),
                                               "k": 10}).encode()) for _ in range(args.content_requests)]
    asyncio.run(_load(port, bodies[:50], args.clients, 30))  # warm-up: the model loads on the first
    return summarise(asyncio.run(_load(port, bodies, args.clients, args.seconds)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--songs", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=20_000, help="requests per phase (at most)")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds per phase (at most)")
    ap.add_argument("--setups", nargs="*", default=["live:1x1", "1x1", "live:1x1", "1x1"],
                    help="[live:]WORKERSxANSWER_THREADS to measure, in order; live: the folder without its neighbour "
                         "lists, every query through the HNSW index (the baseline, as before issue 34)")
    ap.add_argument("--content-requests", type=int, default=2000, help="POST /similar/content requests (0: none)")
    args = ap.parse_args()
    root = OUT / f"serve_{args.songs}"
    folder = build_folder(root, args.songs)
    live_folder(root, folder)
    params, live_params = params_for(root), params_for(root, "index_live")
    rng = np.random.default_rng(0)
    ids = [f"TRBENCH{i:011d}" for i in rng.integers(0, args.songs, args.requests)]
    paths = [f"/similar?track_id={t}&k=10" for t in ids]
    res: dict = {"songs": args.songs, "clients": args.clients, "k": 10, "runs": {}}
    for n_setup, setup in enumerate(args.setups, 1):
        live = setup.startswith("live:")
        workers, threads = (int(x) for x in setup.removeprefix("live:").split("x"))
        port = free_port()
        proc, started = start_server(live_params if live else params, port, workers, threads)
        try:
            asyncio.run(_load(port, paths[:200], args.clients, 30))  # warm-up (first answers load pages)
            rows = asyncio.run(_load(port, paths, args.clients, args.seconds))
            key = f"{n_setup}. {'live HNSW (baseline)' if live else 'neighbour lists'} workers={workers} " \
                  f"answer_threads={threads}"
            res["runs"][key] = {"startup_s": round(started, 1), "peak_rss_mib": peak_rss_mib(proc.pid),
                                **summarise(rows)}
            print(key, res["runs"][key], flush=True)
            if args.content_requests and n_setup == len(args.setups):  # songs by their lyrics, on the same server
                res["content"] = content_phase(port, args)
                print("content", res["content"], flush=True)
        finally:
            proc.terminate()
            proc.wait(30)
    # the rebuild while loaded: one worker, the folder rewritten from a copy while the load runs
    spare = root / "spare"
    if not spare.exists():
        shutil.copytree(folder, spare)
    port = free_port()
    proc, _ = start_server(params, port, 1)
    base = f"http://127.0.0.1:{port}"
    try:
        before = get_json(base, "/healthz")["models"]["fused"]

        async def loaded_rebuild():  # the requests cycle until the time is up: the rebuild must fall inside
            task = asyncio.create_task(_load(port, paths * 20, args.clients, args.seconds))
            await asyncio.sleep(args.seconds / 6)
            t_rebuild = await asyncio.to_thread(rebuild, folder, spare)
            return await task, t_rebuild

        rows, t_rebuild = asyncio.run(loaded_rebuild())
        after = get_json(base, "/healthz")["models"]["fused"]
        switched = after["loaded_at"]
        t0 = min(r[0] for r in rows)
        wall0 = time.time() - (time.perf_counter() - t0)  # perf_counter -> wall clock, roughly
        res["rebuild_under_load"] = {
            "switched": after["reloads"] == before["reloads"] + 1,
            "seconds_from_delete_to_switch": round(switched - t_rebuild, 1),
            "all": summarise(rows),
            "during_rebuild": summarise(rows, t0 + (t_rebuild - wall0), t0 + (switched - wall0)),
        }
        print(res["rebuild_under_load"], flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    if not args.setups:  # only the rebuild phase: keep the load figures of the last full run
        previous = OUT / f"serve_{args.songs}.json"
        if previous.exists():
            res = {**json.loads(previous.read_text()), "rebuild_under_load": res["rebuild_under_load"]}
    save(f"serve_{args.songs}", res)


if __name__ == "__main__":
    main()
