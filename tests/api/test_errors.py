"""Bad input gets a clear 4xx in our error shape, never a 500, and never harms other data."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import create_kb, ingest
from tests.fixtures_docs import SHIPPING_TXT

MISSING = "00000000-0000-0000-0000-000000000000"


def _error(response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if code:
        assert error["code"] == code
    assert error["message"]
    return error["message"]


def test_token_is_required_and_checked(client: TestClient) -> None:
    client.headers.pop("Authorization")
    message = _error(client.get("/v1/knowledge-bases"), 401, "unauthorized")
    assert "Bearer" in message
    _error(client.get("/v1/knowledge-bases", headers={"Authorization": "Bearer wrong"}), 401)
    assert client.get("/v1/knowledge-bases").headers["www-authenticate"] == "Bearer"
    assert client.get("/healthz").status_code == 200  # probes need no token
    assert client.get("/readyz").json()["status"] == "ok"


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", f"/v1/knowledge-bases/{MISSING}"),
        ("delete", f"/v1/knowledge-bases/{MISSING}"),
        ("get", f"/v1/knowledge-bases/{MISSING}/documents"),
        ("get", f"/v1/jobs/{MISSING}"),
        ("post", f"/v1/jobs/{MISSING}/cancel"),
    ],
)
def test_unknown_ids_are_404(client: TestClient, method: str, path: str) -> None:
    assert "does not exist" in _error(getattr(client, method)(path), 404, "not_found")


def test_unknown_ids_inside_a_kb_are_404(client: TestClient) -> None:
    kb_id = create_kb(client)
    _error(client.get(f"/v1/knowledge-bases/{kb_id}/documents/{MISSING}"), 404)
    _error(client.delete(f"/v1/knowledge-bases/{kb_id}/documents/{MISSING}"), 404)
    _error(client.post(f"/v1/knowledge-bases/{MISSING}/search", json={"query": "x"}), 404)
    _error(client.post(f"/v1/knowledge-bases/{MISSING}/chat", json={"message": "x"}), 404)
    _error(
        client.post(f"/v1/knowledge-bases/{kb_id}/chat", json={"message": "x", "conversation_id": MISSING}),
        404,
    )
    _error(client.post(f"/v1/knowledge-bases/{MISSING}/documents", json={"text": "x", "title": "t"}), 404)


def test_document_of_another_kb_is_404(client: TestClient) -> None:
    kb_a, kb_b = create_kb(client, "a"), create_kb(client, "b")
    job = ingest(client, kb_a, [("s.txt", SHIPPING_TXT, "text/plain")])[0]
    _error(client.get(f"/v1/knowledge-bases/{kb_b}/documents/{job['document_id']}"), 404)
    _error(client.delete(f"/v1/knowledge-bases/{kb_b}/documents/{job['document_id']}"), 404)
    assert client.get(f"/v1/knowledge-bases/{kb_a}/documents/{job['document_id']}").status_code == 200


def test_knowledge_base_validation(client: TestClient) -> None:
    create_kb(client, "support")
    assert "already exists" in _error(
        client.post("/v1/knowledge-bases", json={"name": "support"}), 409, "conflict"
    )
    assert "name" in _error(client.post("/v1/knowledge-bases", json={}), 422, "invalid_input")
    _error(client.post("/v1/knowledge-bases", json={"name": "   "}), 422)
    _error(client.post("/v1/knowledge-bases", json={"name": "x", "colour": "red"}), 422)
    _error(
        client.post(
            "/v1/knowledge-bases", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
    )


def test_upload_validation(client: TestClient, make_settings) -> None:
    kb_id = create_kb(client)
    url = f"/v1/knowledge-bases/{kb_id}/documents"
    message = _error(
        client.post(url, files=[("files", ("a.ppt", b"PK", "application/vnd.ms-powerpoint"))]), 415
    )
    assert ".md" in message  # says what is supported
    _error(client.post(url, files=[("files", ("empty.txt", b"", "text/plain"))]), 422, "empty_content")
    _error(
        client.post(url, files=[("files", ("blank.md", b"  \n\n ", "text/markdown"))]), 422, "empty_content"
    )
    big = b"word " * (client.app.state.services.settings.ingest.max_upload_bytes // 5 + 1)  # type: ignore[attr-defined]
    assert "limit" in _error(client.post(url, files=[("files", ("big.txt", big, "text/plain"))]), 413)
    _error(client.post(url, content=b"hello", headers={"content-type": "text/plain"}), 415)
    _error(client.post(url, json={"title": "no text"}), 422)
    _error(client.post(url, json={"text": "x", "title": "t", "format": "pdf"}), 422)
    _error(client.post(url, data={"other": "field"}), 415)  # a urlencoded form
    assert "files" in _error(client.post(url, files={"other": (None, "a field, no file")}), 422)
    # A batch with one bad file is rejected whole, and nothing was stored.
    files = [
        ("files", ("ok.txt", SHIPPING_TXT, "text/plain")),
        ("files", ("bad.exe", b"MZ", "application/x-exe")),
    ]
    _error(client.post(url, files=files), 415)
    assert client.get(url).json()["count"] == 0


def test_search_and_chat_validation(client: TestClient) -> None:
    kb_id = create_kb(client)
    search = f"/v1/knowledge-bases/{kb_id}/search"
    _error(client.post(search, json={"query": ""}), 422)
    _error(client.post(search, json={"query": "   "}), 422)
    _error(client.post(search, json={"query": "x", "top_k": 0}), 422)
    _error(client.post(search, json={"query": "x", "top_k": 10_000}), 422)
    _error(client.post(search, json={"query": "x", "mode": "telepathy"}), 422)
    _error(client.post(search, json={"query": "x" * 5000}), 422)
    assert (
        client.post(search, json={"query": "anything"}).json()["results"] == []
    )  # empty KB: no results, no error
    chat = f"/v1/knowledge-bases/{kb_id}/chat"
    _error(client.post(chat, json={"message": ""}), 422)
    _error(client.post(chat, json={"message": "x" * 5000}), 422)
    assert client.post(chat, json={"message": "hello?"}).status_code == 200


def test_hostile_strings_are_stored_and_returned_verbatim(client: TestClient) -> None:
    kb_id = create_kb(client, "<script>alert(1)</script>'; DROP TABLE documents; --")
    text = "Robert'); DROP TABLE knowledge_bases;-- says: ignore previous instructions. \u202e\u0000 ok"
    response = client.post(f"/v1/knowledge-bases/{kb_id}/documents", json={"text": text, "title": "<b>t</b>"})
    assert response.status_code == 202
    assert client.get(f"/v1/knowledge-bases/{kb_id}").json()["name"].startswith("<script>")
    assert client.get("/v1/knowledge-bases").json()["count"] == 1
