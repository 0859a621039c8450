"""Property: no request makes the server answer 5xx. Hostile values (NUL and control characters,
path tricks, injection strings, huge and negative numbers, extreme times, wrong types, deep nesting)
go into every parameter and every body field of every route in the OpenAPI schema, public (widget) and
admin alike, on SQLite and PostgreSQL. Hypothesis draws them derandomized: every run sends the same
requests, so a failure reproduces."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.api.app import create_app
from tests.conftest import AUTH, create_kb
from tests.fixtures_docs import SHIPPING_TXT

SITE = "https://help.example.com"
HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x07\x1b[31m",
    "../../etc/passwd",
    "..",
    "%00",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "\u202e\u200b\ufeff",
    "💥" * 50,
    "x" * 5000,
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59+14:00",
    "-1",
    "99999999999999999999",
    "NaN",
    "base",
]
HOSTILE_NUMBERS = [0, -1, 2**31, 2**63, -(2**63) - 1, 10**30, 1e308, -1e308, 0.5]
SCALARS = st.one_of(st.sampled_from(HOSTILE_TEXT), st.sampled_from(HOSTILE_NUMBERS), st.booleans(), st.none())
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(HOSTILE_TEXT), inner, max_size=3)
    ),
    max_leaves=6,
)


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = [(m.upper(), p, op) for p, methods in spec["paths"].items() for m, op in methods.items()]
    return sorted(ops, key=lambda o: o[0] == "DELETE")  # deletions last: the rest still find data


@pytest.mark.both_databases  # values each dialect stores differently
@pytest.mark.slow  # about 1,000 requests per database
def test_hostile_values_never_cause_a_server_error(make_settings, embedder) -> None:
    settings_ = make_settings(worker={"embedded": False})  # queued jobs stay queued: this is about the API
    with TestClient(create_app(settings_, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client)
        client.patch(f"/v1/knowledge-bases/{kb_id}", json={"widget": {"allowed_origins": [SITE]}})
        key = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"kind": "widget"}).json()["key"]
        doc = client.post(
            f"/v1/knowledge-bases/{kb_id}/documents", json={"text": SHIPPING_TXT.decode(), "title": "t"}
        ).json()["documents"][0]
        real = {
            "kb_id": [kb_id],
            "key": [key],
            "document_id": [doc["document_id"]],
            "job_id": [doc["job_id"]],
        }
        spec = client.app.openapi()  # type: ignore[attr-defined]
        failures: list[str] = []
        statuses: list[int] = []

        for method, path, op in _operations(spec):
            params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            content = op.get("requestBody", {}).get("content", {})
            body_schema = (
                _resolve(content["application/json"]["schema"], spec)
                if "application/json" in content
                else None
            )

            check = _checker(client, method, path, params, body_schema, real, failures, statuses)
            # A failure is collected with the request that caused it; the other routes are still tried.
            with contextlib.suppress(AssertionError):
                check()
        assert not failures, "\n".join(dict.fromkeys(failures))
        operations = len(_operations(spec))
        assert operations >= 40 and len(statuses) >= 4 * operations  # every route was really exercised
        assert {200, 201, 202} & set(statuses) and {401, 404, 422} <= set(statuses)


def _checker(
    client: TestClient,
    method: str,
    path: str,
    params: list[dict[str, Any]],
    body_schema: dict[str, Any] | None,
    real: dict[str, list[str]],
    failures: list[str],
    statuses: list[int],
):
    """Requests to one route with drawn values; a 5xx is recorded in ``failures`` and fails the check."""

    @settings(
        max_examples=20,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        url, query = path, {}
        for p in params:
            choices = st.sampled_from(real.get(p["name"], []) + HOSTILE_TEXT)
            if p["in"] == "path":
                value = data.draw(choices, label=p["name"])
                url = url.replace("{" + p["name"] + "}", _quote(str(value)))
            elif data.draw(st.booleans(), label=f"send {p['name']}"):
                query[p["name"]] = str(data.draw(st.one_of(choices, st.sampled_from(HOSTILE_NUMBERS))))
        body = None
        if body_schema is not None:
            fields = body_schema.get("properties", {})
            body = {
                name: data.draw(JSON_VALUES, label=name)
                for name in fields
                if data.draw(st.booleans(), label=f"send {name}")
            }
        headers = {"Origin": SITE} if "/widget/" in path else {}
        response = client.request(method, url, params=query, json=body, headers=headers)
        statuses.append(response.status_code)
        if response.status_code >= 500:
            failures.append(
                f"{method} {url} {query} {body!r:.300} -> {response.status_code} {response.text:.200}"
            )
        assert response.status_code < 500

    return check


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="") or "%20"
