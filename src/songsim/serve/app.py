"""``songsim serve``: "songs like X" over HTTP (FastAPI under uvicorn), with a page to explore the catalog.

Endpoints (the OpenAPI schema is at ``/openapi.json``, browsable at ``/docs``):

- ``GET /similar?track_id=...&k=10&model=fused&exclude_same_artist=false&explain=false``
- ``POST /similar`` with ``{"track_ids": [...], "k": 10, "model": "fused", ...}`` (at most ``MAX_BATCH`` ids)
- ``POST /similar/content`` with ``{"lyrics": ..., "h5_base64": ..., "k": 10, ...}``: a song by its content
- ``GET /search?q=...&limit=20``: substring search over track id, artist and title
- ``GET /healthz``, ``GET /metrics`` (Prometheus text format)
- ``GET /``: the page (plain HTML and a small script from ``serve/static``; nothing remote)

Every answer is the :class:`~songsim.serve.recommender.Recommender`'s, the function ``songsim similar`` and
the ranking evaluation use. Bad input gets a 4xx JSON body ``{"error": <kind>, "detail": <message>, ...}``
(the kinds are counted in ``/metrics``); a model name from a request only selects among the loaded
models, so no request parameter ever reaches a file path. The schema declares every bound the service
enforces and every refusal with its body (:mod:`songsim.serve.contract`), and a fuzzer holds it to that.
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoints' annotations, and two of them are types
# made per app (the served models' names, an enum of the schema)
import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from songsim.serve import contract
from songsim.serve.content_api import VocabularyCache, answer_content
from songsim.serve.metrics import Metrics, MetricsMiddleware, ORJSONResponse
from songsim.serve.recommender import MissingModality, UnknownTrack
from songsim.serve.service import (
    MAX_BATCH,
    MAX_ID_LEN,
    MAX_K,
    MAX_QUERY_LEN,
    MAX_SEARCH,
    ModelSlot,
    RequestError,
    SongSearch,
    Watcher,
    check_track_id,
    hits_json,
    song_json,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


def create_app(slots: dict[str, ModelSlot], default_model: str, search: SongSearch,
               watch_interval: float = 2.0, answer_threads: int = 1) -> FastAPI:
    """The ASGI application over loaded model slots (see :func:`songsim.serve.runner.load_slots`); while it
    runs, a :class:`Watcher` looks for rebuilt index folders every ``watch_interval`` seconds (0: never).
    Answers are computed on ``answer_threads`` threads beside the event loop (0: on the loop itself)."""
    if default_model not in slots:
        raise ValueError(f"default model {default_model!r} is not served (served: {', '.join(slots)})")

    pool = ThreadPoolExecutor(answer_threads, thread_name_prefix="songsim-answer") if answer_threads else None

    async def off_loop(fn, *args):
        """``fn(*args)`` on the answer thread(s), or on the event loop itself with ``answer_threads`` 0."""
        return fn(*args) if pool is None else await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        watcher = Watcher(slots, watch_interval) if watch_interval > 0 else None
        if watcher:
            watcher.start()
        yield
        if watcher:
            watcher.stop()
        if pool is not None:
            pool.shutdown(wait=False)

    app = FastAPI(title="songsim", version="1", default_response_class=ORJSONResponse, lifespan=lifespan,
                  description="Content-based song similarity from lyrics and audio: the songs most like a song.")
    metrics = Metrics(slots)
    app.state.slots, app.state.metrics = slots, metrics
    served = tuple(sorted(slots))
    Served = Literal[served]  # the schema's enum of the model names a request may give
    # a song the default model serves, as the schema's example (for /docs' "try it out", and for the fuzzer: a
    # generated track id names no song, so without it no answer's body would be checked against the schema)
    ids = slots[default_model].current.rec.ids
    example = str(ids[0]) if len(ids) else None
    BatchQuery = contract.batch_query(served, example)

    def refused(e: RequestError) -> ORJSONResponse:
        metrics.errors.labels(e.kind).inc()
        return ORJSONResponse({"error": e.kind, "detail": str(e), **e.extra}, status_code=e.status)

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, e: RequestError):
        return refused(e)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, e: RequestValidationError):
        return refused(contract.validation_refusal(e.errors(), list(served)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        # FastAPI's 400: a JSON body it could not decode (not UTF-8), malformed JSON all the same
        kind = {400: "malformed_json", 404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        resp = refused(RequestError(e.status_code, kind, str(e.detail)))
        resp.headers.update(e.headers or {})
        if e.status_code == 405:  # every method the path takes: the router's own Allow names one route's (not POST)
            allowed = {m for r in app.router.routes if getattr(r, "methods", None)
                       and r.matches(request.scope)[0] != Match.NONE for m in r.methods}
            resp.headers["Allow"] = ", ".join(sorted(allowed))
        return resp

    @app.exception_handler(Exception)
    async def _internal(request: Request, e: Exception):  # never a traceback to the client
        log.exception("internal error on %s", request.url.path)
        metrics.errors.labels("internal").inc()
        return ORJSONResponse({"error": "internal", "detail": "internal error (logged by the service)"}, 500)

    def answer(slot: ModelSlot, track_id: str, k: int, exclude_same_artist: bool, explain: bool) -> dict:
        rec = slot.current.rec  # one recommender for the whole answer, even if a reload swaps it now
        try:
            hits = rec.similar(track_id, k, exclude_same_artist, None, explain)
        except UnknownTrack as e:
            raise RequestError(404, "unknown_track", str(e), closest=e.closest) from None
        except MissingModality as e:
            # 404, not 422: the request is well formed (the schema accepts it), the model's index lacks the song
            raise RequestError(404, "missing_modality", str(e), missing=e.missing, models=e.can_serve) from None
        except OSError as e:  # the explanation reads lyrics/audio, which a rebuild may be rewriting
            raise RequestError(503, "explain_unavailable", f"explanations unavailable for now: {e}") from None
        return {"query": song_json(rec, track_id), "model": slot.name, "k": k, "results": hits_json(hits)}

    # answers are computed on their own thread (``answer_threads``): faiss and NumPy release the GIL, so one
    # request's index search overlaps with the event loop's HTTP work for the others (1M songs, 2 cores:
    # 1.5x the answers per second of answering on the event loop; bench/README.md)
    # every bound below is in the schema, and checked by FastAPI; a value outside one gets the kind it has
    # always had (``contract.validation_refusal``)
    @app.get("/similar", summary="The k songs most like a song", response_model=contract.Similar,
             responses=contract.refusals("SimilarRefused", "unknown_track", "missing_modality", "bad_track_id",
                                         "bad_k", "unknown_model", "invalid_request", "explain_unavailable"))
    async def similar_get(track_id: str = Query(..., min_length=1, max_length=MAX_ID_LEN,
                                                pattern=contract.TRACK_ID_PATTERN, description="query track id",
                                                examples=[example] if example else None),
                          k: int = Query(10, ge=1, le=MAX_K, description=f"results, 1..{MAX_K}"),
                          model: Annotated[Served, Query(description="model (default: the service's)")] = default_model,
                          exclude_same_artist: bool = False, explain: bool = False):
        args = (slots[model], check_track_id(track_id), k, exclude_same_artist, explain)
        if not explain and slots[model].current.rec.by_lookup(k):
            # a look-up in the precomputed neighbour lists: answered on the event loop itself, where it costs
            # less than handing it to a thread and back (the thread holds the GIL for all of it; measured in
            # bench/README.md, songsim serve under load)
            return ORJSONResponse(answer(*args))
        return ORJSONResponse(await off_loop(answer, *args))

    def batch(body: BatchQuery) -> dict:
        slot, k = slots[body.model or default_model], body.k
        out = []
        for tid in body.track_ids:
            try:
                out.append(answer(slot, check_track_id(tid), k, body.exclude_same_artist, body.explain))
            except RequestError as e:  # one bad id fails its own entry, not the batch
                metrics.errors.labels(e.kind).inc()
                out.append({"query": {"track_id": tid[:80]}, "error": e.kind, "status": e.status, "detail": str(e),
                            **e.extra})
        return {"model": slot.name, "k": k, "queries": out}

    @app.post("/similar", summary=f"The k songs most like each of several songs (at most {MAX_BATCH})",
              response_model=contract.Batch,
              responses=contract.refusals("BatchRefused", "malformed_json", "body_too_large", "empty_batch",
                                          "batch_too_large", "bad_k", "unknown_model", "invalid_request"))
    async def similar_post(body: BatchQuery):
        return ORJSONResponse(await off_loop(batch, body))

    ContentQuery = contract.content_query(served)
    vocab = VocabularyCache()

    def by_content(body: ContentQuery) -> dict:
        slot = slots[body.model or default_model]
        return answer_content(slot, vocab, served, body.lyrics, body.bow, body.h5_base64, body.k, body.explain)

    @app.post("/similar/content", summary="The k songs most like a song given by its lyrics and/or audio",
              response_model=contract.SimilarToContent,
              responses=contract.refusals("ContentRefused", "malformed_json", "body_too_large", "no_content",
                                          "content_too_large", "empty_lyrics", "no_known_words", "bad_bow",
                                          "bad_h5", "modality_not_given", "bad_k", "unknown_model",
                                          "invalid_request", "explain_unavailable"))
    async def similar_content(body: ContentQuery):
        return ORJSONResponse(await off_loop(by_content, body))

    @app.get("/search", summary="Songs whose track id, artist or title contains q", response_model=contract.Search,
             responses=contract.refusals("SearchRefused", "query_too_long", "bad_limit", "invalid_request"))
    async def search_get(q: str = Query(..., max_length=MAX_QUERY_LEN, description="text to look for"),
                         limit: int = Query(20, ge=1, le=MAX_SEARCH, description=f"results, 1..{MAX_SEARCH}")):
        return ORJSONResponse({"q": q, "results": search.search(q, limit)})

    @app.get("/healthz", summary="Liveness and what is served", response_model=contract.Health,
             responses=contract.refusals("HealthRefused"))
    async def healthz():
        return ORJSONResponse({"status": "ok", "default_model": default_model,
                               "models": {name: slot.status() for name, slot in slots.items()}})

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
                        **contract.refusals("MetricsRefused")})
    async def prometheus():
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
