"""The page in a real browser: headless Chromium (Debian's, driven by Playwright) against `songsim serve` on
the loopback address: search a song, open it, click a neighbour. Any request to another origin fails it.

Needs Playwright (a dev dependency) and a Chromium: ``/usr/bin/chromium`` (``make test`` installs Debian's
package when it can) or ``SONGSIM_CHROMIUM``. Without them the test skips with the reason, except under
CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from songsim.core.config import read_params

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def h5_of(params: dict, track_id: str):
    from pathlib import Path

    t = track_id
    return Path(params["raw"]["msd"]) / t[2] / t[3] / t[4] / f"{t}.h5"


def _need(why: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {why}")
    pytest.skip(why)


def chromium_path() -> str:
    path = os.environ.get("SONGSIM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        _need("no Chromium found (apt-get install chromium, or set SONGSIM_CHROMIUM)")
    return path


@contextmanager
def served(app):
    """``app`` under a real uvicorn server in a thread; yields the base URL. The server listens on a socket
    bound here to a free loopback port and handed to it still open, so no other process can take the port
    between the choice and the listening."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        t.start()
        deadline = time.monotonic() + 60
        while not server.started:
            assert t.is_alive() and time.monotonic() < deadline, "the uvicorn server did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            t.join(10)


def test_served_answers_on_the_socket_it_was_handed():
    """The server the page test drives (no browser needed): it answers on the port of the socket bound for it."""
    import json
    import urllib.request

    async def app(scope, receive, send):  # the smallest ASGI app: its own path back as JSON
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps({"path": scope["path"]}).encode()})

    with served(app) as base:
        with urllib.request.urlopen(base + "/ping", timeout=10) as r:
            assert r.status == 200 and json.loads(r.read()) == {"path": "/ping"}


def test_search_open_and_click_a_neighbour_in_chromium(tiny_run):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright is not installed (pip install -e '.[dev]')")
    exe = chromium_path()
    from songsim.serve.runner import build_app

    path, _ = tiny_run
    app = build_app(read_params(path), "fused", watch_interval=0)
    rec = app.state.slots["fused"].current.rec
    query = rec.ids[0]
    _, artist, title = rec.meta[query]
    with served(app) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            remote: list[str] = []

            def gate(route):
                if route.request.url.startswith(base + "/"):
                    route.continue_()
                else:
                    remote.append(route.request.url)
                    route.abort()

            page.route("**/*", gate)
            page.goto(base + "/")
            page.wait_for_selector("#model option[value=fused]", state="attached")
            page.fill("#q", title)
            page.click("#search-form button[type=submit]")
            song = page.locator(f"#search-results button.song[data-track='{query}']")
            song.wait_for()
            assert artist in song.inner_text()
            song.click()
            page.wait_for_selector("#neighbours li")
            assert page.locator("#query-song").get_attribute("data-track") == query
            shown = page.locator("#neighbours li").evaluate_all("els => els.map(e => e.dataset.track)")
            assert shown == [h.track_id for h in rec.similar(query, 10, explain=True)]
            assert "lyrics" in page.locator("#neighbours li .why").first.inner_text()  # explanations shown
            nxt = shown[1]
            page.locator(f"#neighbours li[data-track='{nxt}'] button.song").click()
            page.wait_for_function(f"document.getElementById('query-song').dataset.track === '{nxt}'")
            again = page.locator("#neighbours li").evaluate_all("els => els.map(e => e.dataset.track)")
            assert again == [h.track_id for h in rec.similar(nxt, 10)]
            assert f"track={nxt}" in page.url  # the query is in the address: back/forward and links work
            page.go_back()
            page.wait_for_function(f"document.getElementById('query-song').dataset.track === '{query}'")
            page.fill("#q", "zzzz-no-such-song")
            page.click("#search-form button[type=submit]")
            page.wait_for_selector("#search-results li:has-text('no song matches')")
            assert page.locator("#status").inner_text() == ""
            # a song outside the catalog, by its lyrics and its MSD file (the query song's own, so the answer
            # is the one asked by id, and the page says which catalog song that content is)
            page.click("#content-panel summary")
            page.fill("#lyrics", "love you tonight my heart")
            page.set_input_files("#h5", str(h5_of(tiny_run[1], query)))
            page.click("#content-form button[type=submit]")
            page.wait_for_function("document.getElementById('query-song').textContent === 'the song you gave'")
            assert "model fused" in page.locator("#query-meta").inner_text()
            scores = page.locator("#neighbours li .score").all_inner_texts()
            assert len(scores) == 10 and len(set(scores)) == 10  # no two shown alike where the ranking differs
            assert remote == [], f"the page asked for remote URLs: {remote}"
        finally:
            browser.close()
