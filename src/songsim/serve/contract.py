"""The HTTP API's contract, as the OpenAPI schema states it: the answers' shapes, every refusal (its status,
its ``error`` kind, its body), and the request validation error each declared bound turns into.

An independent fuzzer holds the service to this schema (schemathesis, ``tests/serve/test_contract.py``), so
what a client reads at ``/openapi.json`` is what the service does: a request the schema accepts is answered
(or is about a song the index does not hold: 404), one it rejects is refused with a 4xx the schema declares,
and the body of every refusal is the model declared for its status (over 250 lines: the whole contract,
every kind and every body, reads in one place).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from songsim.serve.content import MAX_H5_BYTES, MAX_LYRICS_BYTES
from songsim.serve.metrics import MAX_BODY, MAX_CONTENT_BODY
from songsim.serve.service import MAX_BATCH, MAX_ID_LEN, MAX_K, MAX_QUERY_LEN, MAX_SEARCH, RequestError

TRACK_ID_PATTERN = r"\S"  # not blank: what ``check_track_id`` refuses (Python's ``\S`` and ``str.strip`` agree)


@dataclass(frozen=True)
class Kind:
    status: int
    when: str
    extra: tuple[str, ...] = ()  # fields of the body beside ``error`` and ``detail``


KINDS = {
    "unknown_track": Kind(404, "no song of the catalog has this track id", ("closest",)),
    "missing_modality": Kind(404, "the model's index does not hold the song: it lacks a modality the model needs",
                             ("missing", "models")),
    "bad_track_id": Kind(422, f"track id blank or over {MAX_ID_LEN} characters"),
    "bad_k": Kind(422, f"`k` not from 1 to {MAX_K}"),
    "unknown_model": Kind(422, "a model this service does not serve", ("models",)),
    "empty_batch": Kind(422, "no track ids in a batch"),
    "batch_too_large": Kind(422, f"more than {MAX_BATCH} track ids in a batch"),
    "query_too_long": Kind(422, f"search text over {MAX_QUERY_LEN} characters"),
    "bad_limit": Kind(422, f"`limit` not from 1 to {MAX_SEARCH}"),
    "invalid_request": Kind(422, "a parameter missing or of the wrong type (the detail says which)"),
    "malformed_json": Kind(400, "the body is not JSON"),
    "body_too_large": Kind(413, f"a body over {MAX_BODY // 1024} KiB ({MAX_CONTENT_BODY // 2**20} MiB for "
                                f"content), announced or sent chunked"),
    "explain_unavailable": Kind(503, "the files an explanation reads are being rebuilt"),
    # a song asked about by its content (POST /similar/content): what JSON Schema cannot say about it
    "no_content": Kind(422, "neither lyrics, a bag of words nor an .h5 file given, or both lyrics and a bag"),
    "content_too_large": Kind(422, f"lyrics or a bag over {MAX_LYRICS_BYTES:,} characters, an .h5 file over "
                                   f"{MAX_H5_BYTES // 2**20} MiB"),
    "empty_lyrics": Kind(422, "lyrics or a bag with no words in them, or none the model reads (function words "
                              "only, with encoder.stopwords: english)"),
    "no_known_words": Kind(422, "lyrics none of whose words is in the musiXmatch vocabulary"),
    "bad_bow": Kind(422, "a bag of words that is not a musiXmatch line (the detail says what is wrong, where)"),
    "bad_h5": Kind(422, "an .h5 file that is not base64, not HDF5, truncated, not one MSD track, or unsafe "
                        "(links, external storage; the guards of chunk_audio)"),
    "modality_not_given": Kind(422, "content the model cannot read: it needs a modality the request lacks",
                               ("models",)),
    "internal": Kind(500, "an internal error, logged by the service (never a traceback)"),
    # answered by the router, for requests no operation of the schema takes
    "not_found": Kind(404, "a path the service does not have"),
    "method_not_allowed": Kind(405, "a method the path does not take; `Allow` lists those it does"),
}

# the bounds pydantic checks for the schema, and the kind each has always had when the service checked it
BOUND_ERRORS = frozenset({"greater_than_equal", "less_than_equal", "string_too_short", "string_too_long",
                          "string_pattern_mismatch", "too_short", "too_long", "literal_error"})


def bound_refusal(field: str, error: str, value: Any, served: list[str]) -> RequestError | None:
    """The refusal of ``value``, of the right type but outside the declared bound of ``field`` (pydantic's
    error type ``error``), or None where the field has no kind of its own (it stays ``invalid_request``)."""
    if field in ("k", "limit") and not isinstance(value, bool):  # an int, or a query's digits: a range error
        return (RequestError(422, "bad_k", f"k must be an integer from 1 to {MAX_K}, got {value}") if field == "k"
                else RequestError(422, "bad_limit", f"limit must be from 1 to {MAX_SEARCH}, got {value}"))
    if field == "track_ids" and isinstance(value, list):
        return (RequestError(422, "empty_batch", "track_ids is empty") if error == "too_short"
                else RequestError(422, "batch_too_large", f"{len(value)} track ids; at most {MAX_BATCH}"))
    if not isinstance(value, str):
        return None
    if field == "track_id":
        return RequestError(422, "bad_track_id", f"track_id must be 1 to {MAX_ID_LEN} characters, not all blank "
                                                 f"(got {len(value)})")
    if field == "model":
        shown = value if len(value) <= 40 else value[:40] + "..."
        return RequestError(422, "unknown_model", f"model {shown!r} is not served here", models=served)
    if field == "q":
        return RequestError(422, "query_too_long", f"q is {len(value)} characters; at most {MAX_QUERY_LEN}")
    if field in ("lyrics", "bow", "h5_base64"):
        return RequestError(422, "content_too_large", f"{field} is {len(value):,} characters; at most "
                                                      f"{MAX_H5_B64 if field == 'h5_base64' else MAX_LYRICS_BYTES:,}")
    return None


def validation_refusal(errors: list[dict], served: list[str]) -> RequestError:
    """What a request that failed validation is told: a bound's own kind when every error is a declared bound
    (k out of range: ``bad_k``, as before the bounds were in the schema), else ``invalid_request``."""
    if any(err.get("type") == "json_invalid" for err in errors):
        return RequestError(400, "malformed_json", "the request body is not valid JSON")
    if errors and all(err.get("type") in BOUND_ERRORS for err in errors):
        err = errors[0]
        refusal = bound_refusal(str(err["loc"][-1]), err["type"], err.get("input"), served)
        if refusal is not None:
            return refusal
    detail = "; ".join(f"{'.'.join(str(x) for x in err.get('loc', ()))}: {err.get('msg')}" for err in errors)
    return RequestError(422, "invalid_request", detail[:500])


def refusals(name: str, *kinds: str) -> dict[int | str, dict]:
    """FastAPI ``responses`` for an operation that refuses with ``kinds``: per status, a model ``<name><status>``
    whose ``error`` is one of that status's kinds, with the extra fields those kinds give."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for kind in (*kinds, "internal"):
        by_status[KINDS[kind].status].append(kind)
    out: dict[int | str, dict] = {}
    for status, names in sorted(by_status.items()):
        fields: dict[str, Any] = {
            "error": (Literal[tuple(names)], Field(description="what was refused (counted in /metrics)")),
            "detail": (str, Field(description="a message for a person")),
        }
        for extra in sorted({x for kind in names for x in KINDS[kind].extra}):
            fields[extra] = (list[str] | None, None)
        model = create_model(f"{name}{status}", __config__=ConfigDict(extra="forbid"), **fields)
        out[status] = {"model": model, "description": "; ".join(f"`{k}`: {KINDS[k].when}" for k in names)}
    return out


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Song(Answer):
    track_id: str
    artist: str | None
    title: str | None


class Neighbour(Song):
    rank: int = Field(ge=1)
    score: float = Field(description="the model's calibrated estimate of the pair's Last.fm score")
    rank_score: float = Field(description="the model's ranking function (it orders the list)")
    why: dict[str, Any] | None = Field(None, description="with explain: why it matches (songsim.serve.explain)")


class Similar(Answer):
    query: Song
    model: str
    k: int
    results: list[Neighbour]


class Asked(Answer):
    """What a content query was read as."""

    modalities: list[Literal["lyrics", "audio"]]
    same_as: str | None = Field(description="the catalog song with this very content (left out of the results)")
    lyrics: dict[str, Any] | None = Field(None, description="words read, in the vocabulary and not (lyrics text)")
    model_load_s: float
    encode_s: float


class SimilarToContent(Answer):
    query: Asked
    model: str
    k: int
    results: list[Neighbour]


class Queried(Answer):
    track_id: str


class EntryRefused(Answer):
    """One id of a batch the service could not answer: the rest of the batch is answered all the same."""

    query: Queried
    error: Literal["unknown_track", "missing_modality", "bad_track_id", "explain_unavailable"]
    status: int
    detail: str
    closest: list[str] | None = None
    missing: list[str] | None = None
    models: list[str] | None = None


class Batch(Answer):
    model: str
    k: int
    queries: list[Similar | EntryRefused]


class Found(Song):
    models: list[str] = Field(description="the served models whose index holds the song")


class Search(Answer):
    q: str
    results: list[Found]


class SlotHealth(Answer):
    songs: int
    loaded_at: float
    reloads: int
    failed_reloads: int
    last_error: str | None
    index: str


class Health(Answer):
    status: Literal["ok"]
    default_model: str
    models: dict[str, SlotHealth]


def json_integer(value: Any) -> Any:
    """A JSON Schema integer: ``28`` or ``28.0``, not ``true`` or ``"28"`` (pydantic's lax int takes all four)."""
    if isinstance(value, bool | str):
        raise ValueError("must be an integer")
    return value


MAX_H5_B64 = 4 * ((MAX_H5_BYTES + 2) // 3)  # base64 characters of the largest .h5 file taken


def _absent(schema: dict) -> None:
    """A field that is left out when not given: no ``null`` default in the schema (null is not a value of it)."""
    schema.pop("default", None)


def content_query(served: tuple[str, ...]) -> type[BaseModel]:
    """The body of ``POST /similar/content``: lyrics text or a bag of words, and/or an MSD file in base64;
    the model follows what is given (its default, fused, reads either or both). Strict as ``batch_query``."""

    class ContentQuery(BaseModel):
        # what is given: lyrics or a bag, and/or an .h5 file (absent, not null, when not given); the schema
        # says so (anyOf / not), the service checks it (``no_content``)
        model_config = ConfigDict(strict=True, json_schema_extra={
            "anyOf": [{"required": ["lyrics"]}, {"required": ["bow"]}, {"required": ["h5_base64"]}],
            "not": {"required": ["lyrics", "bow"]},
            "examples": [{"lyrics": "I don't want to dance tonight\nmy heart is crying", "k": 5, "explain": True}]})

        lyrics: str = Field(None, max_length=MAX_LYRICS_BYTES, json_schema_extra=_absent, description=(  # type: ignore[assignment]
            "the song's lyrics as plain text: tokenised and stemmed as the musiXmatch words are"))
        bow: str = Field(None, max_length=MAX_LYRICS_BYTES, json_schema_extra=_absent, description=(  # type: ignore[assignment]
            "or its bag of words: a musiXmatch line (TRACK_ID,MXM_ID,idx:cnt,...) or its idx:cnt,... part"))
        h5_base64: str = Field(None, max_length=MAX_H5_B64, json_schema_extra=_absent, description=(  # type: ignore[assignment]
            f"its MSD track file (.h5, at most {MAX_H5_BYTES // 2**20} MiB), base64-encoded"))
        k: Annotated[int, BeforeValidator(json_integer)] = Field(10, ge=1, le=MAX_K, strict=False,
                                                                 description=f"results, 1..{MAX_K}")
        model: Literal[served] | None = Field(None, description="model name (default: the service's)")  # type: ignore[valid-type]
        explain: bool = False

    return ContentQuery


def batch_query(served: tuple[str, ...], example: str | None = None) -> type[BaseModel]:
    """The body of ``POST /similar`` for a service serving the models ``served``. Strict: the JSON types the
    schema states (``true`` is not a ``k``, ``1`` not a boolean); the ids themselves are checked one by one (a
    bad one fails only its own entry), so only their number is a bound of the request."""

    class BatchQuery(BaseModel):
        model_config = ConfigDict(strict=True, json_schema_extra={"examples": [
            {"track_ids": [example, "TRNOSUCHSONG"], "k": 5, "explain": True}]} if example else None)

        track_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH,
                                     description=f"query track ids (1 to {MAX_BATCH})")
        k: Annotated[int, BeforeValidator(json_integer)] = Field(10, ge=1, le=MAX_K, strict=False,
                                                                 description=f"results per query, 1..{MAX_K}")
        model: Literal[served] | None = Field(None, description="model name (default: the service's)")  # type: ignore[valid-type]
        exclude_same_artist: bool = False
        explain: bool = False

    return BatchQuery
