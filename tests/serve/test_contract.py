"""The HTTP API keeps its OpenAPI contract, as an independent fuzzer judges it: schemathesis, in process against
the app ``songsim serve`` builds over the tiny run, with every check it has (the response bodies against the
declared schemas, statuses and content types; schema-valid requests accepted, schema-violating ones refused;
405 with ``Allow`` for a method a path does not take), a fixed seed and derandomized generation, at least
200 generated requests per operation beside the examples and the boundary cases of the coverage phase. Every
operation of the schema is tested, those added later included. And the bad-input table of docs/serving.md
is the schema's: each kind it lists is declared with its status, and each 4xx the schema declares is listed."""

from __future__ import annotations

import re
import tomllib

import pytest
import schemathesis  # a dev dependency: missing, this file fails rather than skips
from schemathesis.config import SchemathesisConfig

from songsim.core.config import read_params
from songsim.serve.contract import KINDS
from songsim.serve.runner import build_app
from tests.conftest import ROOT

CHECKED = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
           "response_schema_conformance", "response_headers_conformance", "positive_data_acceptance",
           "negative_data_rejection", "missing_required_header", "unsupported_method", "allow_header_conformance")
# the repository's schemathesis.toml (what `schemathesis run` reads from here), with a fixed seed and budget
CONFIG = SchemathesisConfig.from_dict(tomllib.loads((ROOT / "schemathesis.toml").read_text()) | {
    "seed": 34,
    "generation": {"max-examples": 200, "deterministic": True, "database": "none"},
})
ROUTER_KINDS = {"not_found", "method_not_allowed"}  # the router's answers, for requests no operation takes


@pytest.fixture(scope="module")
def api(tiny_run):
    path, _ = tiny_run
    app = build_app(read_params(path), "fused", watch_interval=0)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    # schemathesis (4.32) reads and renames ``node._nodeid`` to report each operation of a lazily loaded
    # schema; pytest 9.2's nodes no longer have that attribute
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
def test_every_operation_keeps_the_contract(case):
    case.call_and_validate()


def test_the_fuzzer_runs_every_check():
    """The checks that make this a contract test are on, with the one status exception above."""
    checks = CONFIG.projects.get_default().checks
    assert all(checks.get_by_name(name=name).enabled for name in CHECKED)
    assert checks.positive_data_acceptance.expected_statuses == ["2xx", "404"]
    content = CONFIG.projects.get_default().operations.operations  # the one operation with an exception
    assert [op.checks.positive_data_acceptance.expected_statuses for op in content] == [["2xx", "404", "422"]]
    assert {"400", "404", "405", "422"} <= set(checks.negative_data_rejection.expected_statuses)
    assert "413" not in checks.negative_data_rejection.expected_statuses  # why batch_too_large is a 422


def declared(spec: dict) -> dict[str, dict[int, set[str]]]:
    """Per operation (``GET /similar``), the error kinds each status of its responses may carry."""
    out: dict[str, dict[int, set[str]]] = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, resp in op["responses"].items():
                ref = resp.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                body = spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
                error = body.get("properties", {}).get("error", {})
                kinds = error.get("enum") or ([error["const"]] if "const" in error else None)  # one kind: a const
                if kinds:
                    out.setdefault(f"{method.upper()} {path}", {})[int(status)] = set(kinds)
    return out


def docs_table() -> set[tuple[int, str]]:
    """(status, kind) of each row of the bad-input table of docs/serving.md: ``413 / 422`` beside
    ``a`` / ``b`` pairs them in order; one status holds for every kind of its row."""
    text = (ROOT / "docs" / "serving.md").read_text()
    table = text[text.index("**Bad input**"):]
    rows = re.findall(r"^\|(.+)\|$", table[:table.index("\n\n", table.index("| input"))], flags=re.M)[2:]
    out = set()
    for row in rows:
        _, status, error, _ = (cell.strip() for cell in row.split("|"))
        statuses, kinds = [int(s) for s in re.findall(r"\b\d{3}\b", status)], re.findall(r"`([a-z0-9_]+)`", error)
        assert len(statuses) in (1, len(kinds)), row
        out |= set(zip(statuses * len(kinds) if len(statuses) == 1 else statuses, kinds))
    return out


def test_the_docs_bad_input_table_is_the_schemas(api):
    table = docs_table()
    refusals = declared(api.raw_schema)
    in_schema = {(status, kind) for op in refusals.values() for status, kinds in op.items() for kind in kinds}
    assert table, "no bad-input table in docs/serving.md"
    listed_not_declared = {(s, k) for s, k in table if (s, k) not in in_schema and k not in ROUTER_KINDS}
    assert not listed_not_declared, f"in docs/serving.md's table, not in the schema: {listed_not_declared}"
    assert {(KINDS[k].status, k) for k in ROUTER_KINDS} <= table
    declared_not_listed = {(op, s, k) for op, by in refusals.items() for s, kinds in by.items() if 400 <= s < 500
                           for k in kinds if (s, k) not in table}
    assert not declared_not_listed, f"declared 4xx refusals docs/serving.md's table lacks: {declared_not_listed}"
    # every operation declares its refusals' bodies, and the 4xx kinds are the contract's own
    assert set(refusals) == {f"{m.upper()} {p}" for p, ops in api.raw_schema["paths"].items() for m in ops}
    assert all(KINDS[k].status == s for s, k in in_schema)
