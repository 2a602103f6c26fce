"""End to end with the real dvc commands, in a temporary git repo, on a tiny world."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from songsim.models import MODELS
from tests.conftest import ROOT, shrink_params

pytestmark = pytest.mark.slow

DROP = "^(models|data|dvclive)/|^live\\."  # README's `dvc exp show --only-changed --drop` pattern


def _sh(cwd, *cmd, check=True):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if check and out.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def base_seed(repo) -> int:
    return yaml.safe_load((repo / "params.yaml").read_text())["synth"]["seed"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory, base_params):
    d = tmp_path_factory.mktemp("dvc_repo")
    for name in ("dvc.yaml", "stages", "src", "scripts"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, d / name)
    for junk in d.rglob("__pycache__"):
        shutil.rmtree(junk)
    (d / "params.yaml").write_text(yaml.safe_dump(shrink_params(base_params, None), sort_keys=False))
    (d / ".gitignore").write_text("/models/*.last.pt\n__pycache__/\n")
    _sh(d, "git", "init", "-q")
    _sh(d, "git", "config", "user.name", "songsim tests")  # dvc exp commits need an identity
    _sh(d, "git", "config", "user.email", "tests@songsim.invalid")
    _sh(d, "dvc", "init", "-q")
    for t in (ROOT / ".dvc" / "plots").glob("songsim_*.json"):  # the plot templates dvc.yaml names
        (d / ".dvc" / "plots").mkdir(exist_ok=True)
        shutil.copy(t, d / ".dvc" / "plots" / t.name)
    _sh(d, sys.executable, "scripts/offline_plots_template.py")
    _sh(d, "dvc", "config", "plots.html_template", "plots/offline.html")
    _sh(d, "git", "add", "-A")
    _sh(d, "git", "commit", "-qm", "init")
    return d


def test_repro_noop_experiment_and_compare(repo):
    # a query for `songsim similar` once the index exists: the first track of the tiny world with audio+lyrics
    from songsim.core.config import read_params, section
    from songsim.synth.world import World

    w = World("tiny", base_seed(repo), section(read_params(repo / "params.yaml"), "synth").coverage)
    both = [t for t, a, b in zip(w.track_ids, w.has_audio, w.has_lyrics) if a and b]
    (repo / "queries.txt").write_text(both[0] + "\n")
    first = _sh(repo, "dvc", "repro")
    assert "Running stage 'evaluate@fused'" in first.stdout and "Running stage 'index@fused'" in first.stdout
    for m in ("lyrics_regressor", "audio_siamese", "fused"):
        assert (repo / "data" / "index" / m / "index.faiss").exists()
    sim = _sh(repo, sys.executable, "-m", "songsim.cli", "similar", "--model", "fused", "-k", "3", "--format", "csv",
              "--queries", str(repo / "queries.txt"))
    assert len(sim.stdout.strip().splitlines()) == 4  # header + 3 songs
    for m in ("lyrics_classifier", "lyrics_regressor", "audio_siamese", "fused"):
        report = json.loads((repo / "data" / "reports" / f"evaluate_{m}.json").read_text())
        assert "baselines" in report and "test" in report
        assert len(json.loads((repo / "metrics" / f"{m}.json").read_text())) == 1  # {short: {...}}
    second = _sh(repo, "dvc", "repro")
    # only list_msd runs (always_changed: it re-lists the MSD tree); its listing is unchanged, so nothing after it
    assert re.findall(r"Running stage '([^']+)'", second.stdout) == ["list_msd"], second.stdout
    assert "Stage 'chunk_audio' didn't change" in second.stdout
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "baseline run")

    # an identical retrain writes identical checkpoint bytes, so nothing downstream of it runs again
    before = (repo / "models" / "audio_siamese.pt").read_bytes()
    retrain = _sh(repo, "dvc", "repro", "--force", "--single-item", "train@audio_siamese")
    assert "Running stage 'train@audio_siamese'" in retrain.stdout
    assert (repo / "models" / "audio_siamese.pt").read_bytes() == before
    after = _sh(repo, "dvc", "repro")
    ran = re.findall(r"Running stage '([^']+)'", after.stdout)
    assert ran == ["list_msd"], after.stdout  # embed@, index@ and evaluate@ are skipped

    # the four models are DVC artifacts: registered with gto, fetched by name with `dvc artifacts get`
    for m in MODELS:
        _sh(repo, "gto", "register", m, "--version", "v0.1.0")  # a git tag <model>@v0.1.0
    listed = json.loads(_sh(repo, "gto", "show", "--json").stdout)
    assert {m: listed[m]["version"] for m in MODELS} == {m: "v0.1.0" for m in MODELS}
    fetched = repo.parent / f"{repo.name}_artifacts"
    fetched.mkdir()
    for m in MODELS:
        _sh(fetched, "dvc", "artifacts", "get", str(repo), m, "-o", f"{m}.pt")
        assert (fetched / f"{m}.pt").read_bytes() == (repo / "models" / f"{m}.pt").read_bytes()

    # changing one model's param re-runs only that model's stages, and fused's, whose audio tower starts
    # as the audio model's (fused.model.audio_init)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["audio_siamese"]["optim"]["lr"] = 0.003
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(_sh(repo, "dvc", "status", "--json").stdout)
    assert set(status) == {"list_msd", "train@audio_siamese"}  # downstream of it is decided at repro time
    assert status["list_msd"] == ["always changed"]
    third = _sh(repo, "dvc", "repro")
    ran = set(re.findall(r"Running stage '([^']+)'", third.stdout))
    assert ran == {"list_msd", "train@audio_siamese", "evaluate@audio_siamese", "embed@audio_siamese",
                   "index@audio_siamese", "train_fused", "evaluate@fused", "embed@fused", "index@fused"}
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "audio lr")

    _sh(repo, "dvc", "exp", "run", "-n", "seed1", "-S", "train.seed=1")
    show = _sh(repo, "dvc", "exp", "show", "--json").stdout
    assert "seed1" in show
    diff = _sh(repo, "dvc", "metrics", "diff", "--json")
    assert "metrics/fused.json" in diff.stdout and "failed to load" not in diff.stderr.lower()
    # model metrics only: each model's test metrics and its last training epoch (DVCLive), no ingest timings
    assert set(json.loads(diff.stdout)) <= {f for m in MODELS for f in (f"metrics/{m}.json",
                                                                       f"dvclive/{m}/metrics.json")}
    table = _sh(repo, "dvc", "exp", "show", "--only-changed", "--drop", DROP).stdout.splitlines()
    header = next(line for line in table if "Experiment" in line)
    assert max(len(line.rstrip()) for line in table) <= 160, "\n".join(table)
    assert header.split()[2:4] == ["clf.acc", "lyr.mae"]  # model metrics first, test figures first
    _sh(repo, "dvc", "plots", "show")  # the HTML page: it must load nothing from the network
    page = (repo / "dvc_plots" / "index.html").read_text()
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page), "the page loads remote files"
    assert "vegaEmbed('#" in page and "window.vegaEmbed" in page
    plots = _sh(repo, "dvc", "plots", "show", "--json")
    assert "loss_regressors" in plots.stdout and "confusion_matrix" in plots.stdout and "recall_at_k" in plots.stdout


def serve_on_a_free_port(cwd, *args, bound: float = 120.0):
    """Start ``songsim serve --port 0 ARGS`` in ``cwd``: the server binds a free port itself and logs it, so no
    other process can take the port between its choice and its use. Returns the process, its base URL once it
    listens, and the lines of its output so far (a thread keeps reading them, so the pipe never fills)."""
    import queue
    import threading

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-m", "songsim.cli", "serve", "--port", "0", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ports: queue.Queue = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"Uvicorn running on (http://127\.0\.0\.1:(\d+))", line)
            if m:
                ports.put(m.group(1))
        ports.put(None)  # the output ended: the server exited

    threading.Thread(target=read, daemon=True).start()
    try:
        base = ports.get(timeout=bound)
    except queue.Empty:
        base = None
    if base is None:
        proc.kill()
        proc.wait(10)
        raise AssertionError(f"songsim serve did not start listening:\n{''.join(lines)[-3000:]}")
    return proc, base, lines


def test_serve_answers_while_dvc_rebuilds_the_index(repo):
    """`songsim serve` keeps answering while `dvc repro` deletes and rewrites the index folder, then switches
    to the rebuilt index (a real server process, a real `dvc repro`)."""
    import threading
    import time
    import urllib.error
    import urllib.request

    pytest.importorskip("fastapi")
    server, base, _ = serve_on_a_free_port(repo, "--models", "fused", "--watch-interval", "0.2")

    def get(path):
        with urllib.request.urlopen(base + path, timeout=10) as r:
            return json.loads(r.read())

    try:
        health = get("/healthz")
        query = next(s["track_id"] for s in get("/search?q=TR&limit=50")["results"] if "fused" in s["models"])
        codes, stop = [], threading.Event()

        def client():
            while not stop.is_set():
                try:
                    codes.append(len(get(f"/similar?track_id={query}&k=3")["results"]))
                except urllib.error.HTTPError as e:
                    codes.append(f"HTTP {e.code}")
                except Exception as e:  # noqa: BLE001
                    codes.append(repr(e))

        t = threading.Thread(target=client)
        t.start()
        try:
            loaded = health["models"]["fused"]["loaded_at"]
            rebuild = _sh(repo, "dvc", "repro", "--force", "--single-item", "index@fused")
            assert "Running stage 'index@fused'" in rebuild.stdout
            deadline = time.time() + 60
            while get("/healthz")["models"]["fused"]["loaded_at"] == loaded and time.time() < deadline:
                time.sleep(0.2)
        finally:
            stop.set()
            t.join()
        after = get("/healthz")["models"]["fused"]
        assert after["reloads"] == 1 and after["loaded_at"] > loaded
        assert codes and all(c == 3 for c in codes), [c for c in codes if c != 3][:5]
    finally:
        server.terminate()
        server.wait(10)
