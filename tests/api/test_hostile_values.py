"""Values that made the server answer 500 now get a 4xx that says what to fix, the same on SQLite and
PostgreSQL: NUL characters in any stored or looked-up text, times near year 1 or 9999, integers past
what the database holds, a visitor token whose ``exp`` is a string. A refused widget chat spends none
of the daily budget."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.app import create_app
from backend.db.models import WidgetUsage
from tests.conftest import AUTH, create_kb, ingest
from tests.fixtures_docs import SHIPPING_TXT

pytestmark = pytest.mark.both_databases  # limits each dialect enforces differently

SITE = {"Origin": "https://help.example.com"}
NUL = "bad\x00value"


@pytest.fixture
def world(make_settings, embedder) -> Iterator[tuple[TestClient, str, str]]:
    with TestClient(create_app(make_settings(), embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client)
        ingest(client, kb_id, [("shipping.txt", SHIPPING_TXT, "text/plain")])
        client.patch(
            f"/v1/knowledge-bases/{kb_id}",
            json={"widget": {"allowed_origins": [SITE["Origin"]], "daily_budget": 5}},
        )
        key = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"kind": "widget"}).json()["key"]
        yield client, kb_id, key


def _is_nul_refusal(response) -> bool:
    message = response.json()["error"]["message"]
    return response.status_code == 422 and ("NUL" in message or "U+0000" in message)


def test_nul_characters_are_refused_everywhere_with_the_same_422(world) -> None:
    client, kb_id, key = world
    assert _is_nul_refusal(client.post("/v1/knowledge-bases", json={"name": NUL}))
    assert _is_nul_refusal(client.get("/v1/knowledge-bases/bad%00value"))  # percent-encoded in the path
    text = {"text": "some words", "title": NUL}
    assert _is_nul_refusal(client.post(f"/v1/knowledge-bases/{kb_id}/documents", json=text))
    assert _is_nul_refusal(client.post(f"/v1/knowledge-bases/{kb_id}/chat", json={"message": NUL}))
    assert _is_nul_refusal(client.post(f"/v1/widget/{key}/chat", json={"message": NUL}, headers=SITE))
    lead = {"email": "a@example.com", "note": NUL}
    assert _is_nul_refusal(client.post(f"/v1/widget/{key}/leads", json=lead, headers=SITE))
    answer = client.post(
        f"/v1/widget/{key}/chat", json={"message": "Where do orders ship from?"}, headers=SITE
    )
    assert answer.status_code == 200, answer.text
    message, conversation = answer.json()["message_id"], answer.json()["conversation_id"]
    vote = {"rating": "down", "comment": NUL}
    assert _is_nul_refusal(
        client.post(f"/v1/widget/{key}/messages/{message}/feedback", json=vote, headers=SITE)
    )
    handoff = f"/v1/widget/{key}/conversations/{conversation}/handoff"
    assert _is_nul_refusal(client.post(handoff, json={"reason": NUL}, headers=SITE))

    # Only the answered message counted against the daily budget; the refused one was given back.
    with client.app.state.services.sessions() as session:  # type: ignore[attr-defined]
        assert session.scalar(select(WidgetUsage.messages).where(WidgetUsage.kb_id == kb_id)) == 1


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00", "9999-12-31T23:59:59", "0001-01-01T00:00:00+14:00"])
def test_times_outside_what_is_stored_are_refused(world, when: str) -> None:
    client, kb_id, key = world
    filters = {"filters": {"created_after": when}}
    search = client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": "ship", **filters})
    widget = client.post(f"/v1/widget/{key}/chat", json={"message": "ship?", **filters}, headers=SITE)
    report = client.get(f"/v1/knowledge-bases/{kb_id}/analytics/summary", params={"since": when})
    ended = client.get(f"/v1/knowledge-bases/{kb_id}/analytics/summary", params={"until": when})
    leads = client.get(f"/v1/knowledge-bases/{kb_id}/leads", params={"since": when})
    for response in (search, widget, report, ended, leads):
        assert response.status_code == 422, response.text
        assert "between 1970-01-01 and 2200-01-01" in response.json()["error"]["message"]


def test_integers_past_what_the_database_holds_are_refused(world) -> None:
    client, kb_id, _ = world
    response = client.get(f"/v1/knowledge-bases/{kb_id}/documents", params={"offset": "99999999999999999999"})
    assert response.status_code == 422 and "offset" in response.text


def test_a_signed_token_whose_exp_is_a_string_is_a_401(world) -> None:
    client, kb_id, key = world
    secret = client.post(f"/v1/knowledge-bases/{kb_id}/identity/rotate").json()["secret"]
    token = jwt.encode({"sub": "u1", "exp": str(int(time.time()) + 600)}, secret, algorithm="HS256")
    response = client.post(
        f"/v1/widget/{key}/chat", json={"message": "hi"}, headers={**SITE, "X-Visitor-Token": token}
    )
    assert response.status_code == 401 and "'exp' must be a number" in response.json()["error"]["message"]
