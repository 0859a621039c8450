"""API keys: scoped to one knowledge base, shown once, stored hashed, revocable; the policy table
matches the routes; a key never reaches another knowledge base, admin endpoints or widget-only use."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.auth import POLICY
from backend.db.models import ApiKey
from tests.conftest import create_kb, ingest
from tests.fixtures_docs import SHIPPING_TXT


def _key(client: TestClient, kb_id: str, **body: object) -> dict:
    response = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _as(client: TestClient, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_every_policy_entry_is_a_real_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    routes = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    assert set(POLICY) <= routes, set(POLICY) - routes


def test_a_key_reaches_its_knowledge_base_within_its_scopes_only(client: TestClient) -> None:
    kb_a, kb_b = create_kb(client, "a"), create_kb(client, "b")
    ingest(client, kb_a, [("shipping.txt", SHIPPING_TXT, "text/plain")])
    reader = _key(client, kb_a, name="site search", scopes=["read", "search"])
    assert reader["key"].startswith("kbk_") and reader["prefix"] == reader["key"][:12]
    auth = _as(client, reader["key"])
    search = {"query": "where do orders ship from"}

    assert client.get(f"/v1/knowledge-bases/{kb_a}", headers=auth).status_code == 200
    assert client.get(f"/v1/knowledge-bases/{kb_a}/documents", headers=auth).status_code == 200
    assert client.post(f"/v1/knowledge-bases/{kb_a}/search", json=search, headers=auth).status_code == 200
    lacking = client.post(f"/v1/knowledge-bases/{kb_a}/chat", json={"message": "hi"}, headers=auth)
    assert lacking.status_code == 403 and "'chat' scope" in lacking.json()["error"]["message"]
    upload = client.post(
        f"/v1/knowledge-bases/{kb_a}/documents", json={"text": "x", "title": "x"}, headers=auth
    )
    assert upload.status_code == 403
    # Another knowledge base does not exist for this key, whatever the endpoint.
    for method, path in [
        ("GET", f"/v1/knowledge-bases/{kb_b}"),
        ("POST", f"/v1/knowledge-bases/{kb_b}/search"),
        ("GET", f"/v1/knowledge-bases/{kb_b}/documents"),
    ]:
        response = client.request(method, path, json=search if method == "POST" else None, headers=auth)
        assert response.status_code == 404 and kb_b in response.json()["error"]["message"]
    # Admin-only endpoints stay closed.
    for method, path in [
        ("GET", "/v1/knowledge-bases"),
        ("POST", "/v1/knowledge-bases"),
        ("DELETE", f"/v1/knowledge-bases/{kb_a}"),
        ("GET", "/v1/encoders"),
        ("POST", f"/v1/knowledge-bases/{kb_a}/keys"),
        ("POST", "/v1/chat/completions"),
    ]:
        response = client.request(method, path, json={"name": "x"}, headers=auth)
        assert response.status_code == 403, (method, path, response.text)


def test_a_key_follows_its_knowledge_bases_jobs_and_no_others(client: TestClient) -> None:
    kb_a, kb_b = create_kb(client, "a"), create_kb(client, "b")
    (job_a,) = ingest(client, kb_a, [("shipping.txt", SHIPPING_TXT, "text/plain")])
    (job_b,) = ingest(client, kb_b, [("shipping.txt", SHIPPING_TXT, "text/plain")])
    auth = _as(client, _key(client, kb_a, scopes=["read"])["key"])
    mine = client.get(f"/v1/knowledge-bases/{kb_a}/jobs/{job_a['id']}", headers=auth)
    assert mine.status_code == 200 and mine.json()["status"] == "succeeded"
    assert client.get(f"/v1/jobs/{job_a['id']}", headers=auth).status_code == 403  # the admin's view
    # Another knowledge base's job reads exactly like a job that does not exist.
    theirs = client.get(f"/v1/knowledge-bases/{kb_a}/jobs/{job_b['id']}", headers=auth)
    missing = client.get(f"/v1/knowledge-bases/{kb_a}/jobs/nope", headers=auth)
    assert theirs.status_code == missing.status_code == 404
    assert (
        theirs.json()["error"]["message"].replace(job_b["id"], "nope") == missing.json()["error"]["message"]
    )


def test_keys_are_shown_once_stored_hashed_and_revocable(client: TestClient) -> None:
    kb_id = create_kb(client)
    created = _key(client, kb_id, name="backend", scopes=["manage", "read"])
    assert created["scopes"] == ["read", "manage"]
    listed = client.get(f"/v1/knowledge-bases/{kb_id}/keys").json()["data"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    with client.app.state.services.sessions() as session:  # type: ignore[attr-defined]
        stored = session.scalar(select(ApiKey))
        assert stored is not None and created["key"] not in (stored.key_hash, stored.prefix)
    manager = _as(client, created["key"])
    assert client.get(f"/v1/knowledge-bases/{kb_id}/keys", headers=manager).status_code == 200
    assert client.delete(f"/v1/knowledge-bases/{kb_id}/keys/{created['id']}").status_code == 204
    revoked = client.get(f"/v1/knowledge-bases/{kb_id}", headers=manager)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
    assert client.get(f"/v1/knowledge-bases/{kb_id}/keys").json()["data"][0]["revoked_at"] is not None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"scopes": ["root"]}, "scopes"),
        ({"kind": "god"}, "kind"),
        ({"scopes": []}, "at least one scope"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_key_requests_are_validated(client: TestClient, body: dict, message: str) -> None:
    kb_id = create_kb(client)
    response = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json=body)
    assert response.status_code == 422 and message in response.text


def test_widget_keys_only_chat_and_never_through_the_api(client: TestClient) -> None:
    kb_id = create_kb(client)
    widget = _key(client, kb_id, kind="widget", scopes=["manage", "write"])
    assert widget["key"].startswith("kbw_") and widget["scopes"] == ["chat"]
    response = client.post(
        f"/v1/knowledge-bases/{kb_id}/chat", json={"message": "hi"}, headers=_as(client, widget["key"])
    )
    assert response.status_code == 403 and "/v1/widget" in response.json()["error"]["message"]
    for junk in ("kbk_" + "A" * 43, "kbw_", "' OR 1=1 --", "x" * 5000):
        assert client.get(f"/v1/knowledge-bases/{kb_id}", headers=_as(client, junk)).status_code == 401
