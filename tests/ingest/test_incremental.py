"""Re-ingestion through the real API, on SQLite and PostgreSQL: a re-upload under the same source is
a new version of the same document; only chunks whose text changed are embedded again, stale points
are deleted, and nothing is duplicated."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import create_kb, upload, wait_for_job

TOPICS = [
    ("Passwords", "Reset a forgotten password from the sign-in page with the 'Forgot password' link."),
    ("Invoices", "Invoices are emailed on the first business day of each month as PDF attachments."),
    ("Refunds", "Refunds reach the original card within five to seven business days."),
    ("Shipping", "Parcels leave the Rotterdam warehouse every weekday before noon."),
    ("Accounts", "An account owner can add up to fifty team members on the Business plan."),
    ("Security", "Two-factor authentication accepts TOTP apps and hardware security keys."),
]


def _guide(topics: list[tuple[str, str]]) -> bytes:
    return "\n\n".join(f"## {title}\n\n{body}" for title, body in topics).encode()


def _search_texts(client: TestClient, kb_id: str, query: str) -> list[str]:
    response = client.post(
        f"/v1/knowledge-bases/{kb_id}/search", json={"query": query, "top_k": 20, "mode": "sparse"}
    )
    assert response.status_code == 200, response.text
    return [r["text"] for r in response.json()["results"]]


def test_an_edit_re_embeds_only_the_changed_chunk(client: TestClient) -> None:
    kb_id = create_kb(client)
    vectors = client.app.state.services.encoders.base.vectors  # type: ignore[attr-defined]
    first = upload(client, kb_id, [("guide.md", _guide(TOPICS), "text/markdown")])[0]
    job = wait_for_job(client, first["job_id"])
    assert job["status"] == "succeeded", job
    chunks = job["result"]["chunks"]
    assert chunks >= len(TOPICS) and job["result"] == {"chunks": chunks, "embedded": chunks, "reused": 0}

    again = upload(client, kb_id, [("guide.md", _guide(TOPICS), "text/markdown")])[0]
    assert again["unchanged"] is True and again["job_id"] == first["job_id"]

    edited = list(TOPICS)
    edited[2] = ("Refunds", "Refunds are paid out as store credit within one business day.")
    second = upload(client, kb_id, [("guide.md", _guide(edited), "text/markdown")])[0]
    assert second["replaced"] is True and second["document_id"] == first["document_id"]
    job = wait_for_job(client, second["job_id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["embedded"] == 1 and job["result"]["reused"] == job["result"]["chunks"] - 1

    documents = client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]
    assert [d["id"] for d in documents] == [first["document_id"]]
    assert documents[0]["chunk_count"] == job["result"]["chunks"]
    assert vectors.count(kb_id=kb_id) == job["result"]["chunks"]  # stale points are gone
    texts = _search_texts(client, kb_id, "refunds store credit card business days")
    assert any("store credit" in t for t in texts)
    assert not any("original card" in t for t in texts)


def test_a_shorter_version_deletes_the_stale_chunks(client: TestClient) -> None:
    kb_id = create_kb(client)
    vectors = client.app.state.services.encoders.base.vectors  # type: ignore[attr-defined]
    body = {"text": _guide(TOPICS).decode(), "title": "Guide", "source": "https://help.example/guide"}
    first = client.post(f"/v1/knowledge-bases/{kb_id}/documents", json={**body, "format": "markdown"})
    wait_for_job(client, first.json()["documents"][0]["job_id"])
    before = vectors.count(kb_id=kb_id)

    body["text"] = _guide(TOPICS[:2]).decode()
    second = client.post(f"/v1/knowledge-bases/{kb_id}/documents", json={**body, "format": "markdown"})
    item = second.json()["documents"][0]
    assert item["replaced"] is True
    job = wait_for_job(client, item["job_id"])
    assert job["result"]["embedded"] == 0 and job["result"]["reused"] == job["result"]["chunks"]
    assert vectors.count(kb_id=kb_id) == job["result"]["chunks"] < before
    assert not _search_texts(client, kb_id, "Rotterdam warehouse parcels")


def test_json_texts_without_a_source_never_replace_each_other(client: TestClient) -> None:
    kb_id = create_kb(client)
    for text in ("Dogs are allowed in the lobby.", "Cats are allowed in the garden."):
        item = client.post(
            f"/v1/knowledge-bases/{kb_id}/documents", json={"text": text, "title": "Pets"}
        ).json()["documents"][0]
        assert item["replaced"] is False
        wait_for_job(client, item["job_id"])
    assert len(client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]) == 2
