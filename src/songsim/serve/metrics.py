"""The service's Prometheus metrics (request counts by endpoint and status, a latency histogram by
endpoint, refused requests by kind, the served indexes' sizes and reloads), the pure-ASGI middleware that
records them and bounds request bodies, and the JSON response class (orjson)."""

from __future__ import annotations

import time

import orjson
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from songsim.serve.service import ModelSlot

MAX_BODY = 64 * 1024  # bytes of a POST body
MAX_CONTENT_BODY = 12 * 2**20  # ... of a content query's (an .h5 file of up to 8 MiB in base64, and lyrics)
BODY_LIMITS = {"/similar/content": MAX_CONTENT_BODY}  # paths with a limit of their own
ENDPOINTS = ("/similar", "/similar/content", "/search", "/healthz", "/metrics", "/")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ORJSONResponse(JSONResponse):
    def render(self, content) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class Metrics:
    """Prometheus metrics of one app (its own registry, so several apps in one process do not mix)."""

    def __init__(self, slots: dict[str, ModelSlot]):
        self.registry = CollectorRegistry()
        self.requests = Counter("songsim_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("songsim_request_seconds", "request latency by endpoint", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("songsim_errors", "refused or failed requests by kind", ["kind"], registry=self.registry)
        self.songs = Gauge("songsim_index_songs", "songs in the served index", ["model"], registry=self.registry)
        self.reloads = Gauge("songsim_index_reloads", "rebuilt index folders switched to", ["model"],
                             registry=self.registry)
        self.slots = slots

    def render(self) -> bytes:
        for name, slot in self.slots.items():
            self.songs.labels(name).set(len(slot.current.rec.ids))
            self.reloads.labels(name).set(slot.reloads)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI: counts and times every HTTP request (endpoint label from a fixed list) and refuses a
    body over ``MAX_BODY`` bytes with 413 before the application reads it."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        endpoint = path if path in ENDPOINTS else ("/static" if path.startswith("/static/") else "other")
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_wrapped(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        limit = BODY_LIMITS.get(path, MAX_BODY)
        too_large = length is not None and (not length.isdigit() or int(length) > limit)
        if not too_large and length is None and b"chunked" in headers.get(b"transfer-encoding", b""):
            # no length announced: read the body here, at most limit + 1 bytes, and hand it on
            body, more = b"", True
            while more and len(body) <= limit:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            too_large = len(body) > limit
            replay = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive():  # noqa: F811 - the app reads the body already received
                return replay.pop() if replay else {"type": "http.disconnect"}
        try:
            if too_large:
                self.metrics.errors.labels("body_too_large").inc()
                resp = ORJSONResponse({"error": "body_too_large", "detail": f"request body over {limit} bytes"},
                                      413)
                await resp(scope, receive, send_wrapped)
            else:
                await self.app(scope, receive, send_wrapped)
        finally:  # an exception out of the app is answered 500 further out: counted as one here too
            self.metrics.requests.labels(endpoint, str(status["code"])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)
