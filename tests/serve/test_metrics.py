"""The service's Prometheus metrics and the ASGI middleware that records them and bounds request bodies, driven
directly (a stub application, hand-made ASGI messages; no server, no index)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from songsim.serve.metrics import MAX_BODY, Metrics, MetricsMiddleware, ORJSONResponse


def _slot(n_songs: int, reloads: int = 0):
    return SimpleNamespace(current=SimpleNamespace(rec=SimpleNamespace(ids=[f"TR{i}" for i in range(n_songs)])),
                           reloads=reloads)


def samples(metrics: Metrics) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of what /metrics would serve."""
    text = metrics.render().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def requests(metrics, endpoint, status) -> float:
    return samples(metrics).get(("songsim_requests_total", (("endpoint", endpoint), ("status", status))), 0.0)


class Stub:
    """An ASGI app that records what it received and answers ``status`` with the body it read."""

    def __init__(self, status: int = 200):
        self.status, self.calls, self.bodies = status, 0, []

    async def __call__(self, scope, receive, send):
        self.calls += 1
        body, more = b"", True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(mw, path="/similar", method="GET", headers=(), chunks=(b"",)):
    """Run one request through ``mw``; returns (status, body) of what it sent."""
    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent = []

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(msg):
        sent.append(msg)

    asyncio.run(mw(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_render_reports_the_served_indexes_now():
    slots = {"fused": _slot(3, reloads=1), "lyrics_regressor": _slot(5)}
    m = Metrics(slots)
    got = samples(m)
    assert got[("songsim_index_songs", (("model", "fused"),))] == 3
    assert got[("songsim_index_songs", (("model", "lyrics_regressor"),))] == 5
    assert got[("songsim_index_reloads", (("model", "fused"),))] == 1
    slots["fused"] = _slot(7, reloads=2)  # a reload swapped the index: the next scrape says so
    m.slots = slots
    got = samples(m)
    assert got[("songsim_index_songs", (("model", "fused"),))] == 7
    assert got[("songsim_index_reloads", (("model", "fused"),))] == 2


def test_requests_are_counted_by_endpoint_and_status_and_timed():
    m = Metrics({})
    app = Stub()
    mw = MetricsMiddleware(app, m)
    assert call(mw, "/similar") == (200, b"ok")
    call(mw, "/similar")
    call(mw, "/static/app.js")
    call(mw, "/no/such/path")  # any other path: one label, not one per path
    app.status = 404
    call(mw, "/search")
    assert requests(m, "/similar", "200") == 2 and requests(m, "/static", "200") == 1
    assert requests(m, "other", "200") == 1 and requests(m, "/search", "404") == 1
    assert requests(m, "/search", "200") == 0
    got = samples(m)
    assert got[("songsim_request_seconds_count", (("endpoint", "/similar"),))] == 2
    assert not any("/no/such/path" in str(k) for k in got)


def test_a_second_app_has_its_own_counts():
    a, b = Metrics({}), Metrics({})
    call(MetricsMiddleware(Stub(), a))
    assert requests(a, "/similar", "200") == 1 and requests(b, "/similar", "200") == 0


def test_other_scopes_pass_through_uncounted():
    m, seen = Metrics({}), []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(MetricsMiddleware(app, m)({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"] and not any(k[0] == "songsim_requests_total" for k in samples(m))


@pytest.mark.parametrize("length", [str(MAX_BODY + 1).encode(), b"12x", b"-1"])
def test_an_announced_body_over_the_bound_is_refused_unread(length):
    m, app = Metrics({}), Stub()
    status, body = call(MetricsMiddleware(app, m), method="POST", headers=[(b"content-length", length)])
    assert status == 413 and json.loads(body)["error"] == "body_too_large" and app.calls == 0
    assert requests(m, "/similar", "413") == 1
    assert samples(m)[("songsim_errors_total", (("kind", "body_too_large"),))] == 1


def test_an_announced_body_within_the_bound_reaches_the_app():
    m, app = Metrics({}), Stub()
    body = b"x" * MAX_BODY
    assert call(MetricsMiddleware(app, m), method="POST", headers=[(b"content-length", str(MAX_BODY).encode())],
                chunks=(body,))[0] == 200
    assert app.bodies == [body]


def test_a_chunked_body_is_bounded_as_it_arrives():
    chunked = [(b"transfer-encoding", b"chunked")]
    m, app = Metrics({}), Stub()
    mw = MetricsMiddleware(app, m)
    small = [b"a" * 1000, b"b" * 1000, b"c"]
    assert call(mw, method="POST", headers=chunked, chunks=small)[0] == 200
    assert app.bodies == [b"".join(small)]  # handed on whole, once
    big = [b"x" * 1024] * (MAX_BODY // 1024 + 1)
    status, body = call(mw, method="POST", headers=chunked, chunks=big)
    assert status == 413 and json.loads(body)["error"] == "body_too_large" and app.calls == 1
    exact = [b"y" * (MAX_BODY // 2)] * 2  # MAX_BODY bytes: allowed
    assert call(mw, method="POST", headers=chunked, chunks=exact)[0] == 200 and len(app.bodies[-1]) == MAX_BODY


def test_orjson_response_serialises_numpy():
    r = ORJSONResponse({"v": np.arange(3, dtype=np.int64), "s": np.float32(0.5)})
    assert json.loads(r.body) == {"v": [0, 1, 2], "s": 0.5}


def test_a_request_the_app_fails_is_counted_as_a_500():
    """An exception out of the app (the framework's outer error handler turns it into the 500 answer) is still
    one request, counted with status 500 and timed."""
    m = Metrics({})

    async def broken(scope, receive, send):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(MetricsMiddleware(broken, m)({"type": "http", "path": "/similar", "headers": []}, None, None))
    assert requests(m, "/similar", "500") == 1
    assert samples(m)[("songsim_request_seconds_count", (("endpoint", "/similar"),))] == 1
