"""The whole product path through the real API, on SQLite and on PostgreSQL:
create a KB → upload Markdown, HTML and text → jobs succeed → search ranks the right passage first
→ chat cites it → deleting a document removes its vectors → deleting the KB removes everything."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import create_kb, ingest, upload, wait_for_job
from tests.fixtures_docs import BILLING_HTML, GUIDE_MD, SHIPPING_TXT

FILES = [
    ("guide.md", GUIDE_MD, "text/markdown"),
    ("billing.html", BILLING_HTML, "text/html"),
    ("shipping.txt", SHIPPING_TXT, "text/plain"),
]


def _search(client: TestClient, kb_id: str, query: str, **extra: object) -> list[dict]:
    response = client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": query, **extra})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def _vector_count(client: TestClient, kb_id: str, document_id: str | None = None) -> int:
    return client.app.state.services.encoders.snapshot(kb_id).vectors.count(
        kb_id=kb_id, document_id=document_id
    )  # type: ignore[attr-defined]


@pytest.mark.both_databases  # the whole flow once on PostgreSQL
def test_upload_search_chat_delete(client: TestClient) -> None:
    kb_id = create_kb(client)
    jobs = ingest(client, kb_id, FILES)
    assert [j["status"] for j in jobs] == ["succeeded"] * 3, jobs
    docs = {d["filename"]: d for d in client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]}
    assert {d["status"] for d in docs.values()} == {"ready"}
    assert docs["billing.html"]["title"] == "Billing FAQ"  # from <title>
    assert docs["guide.md"]["title"] == "Acme Router Guide"  # from the first h1

    # Search by meaning: no word of the query but "password" is in the passage.
    top = _search(client, kb_id, "I forgot my login password, how do I get back in?", top_k=3, mode="dense")[
        0
    ]
    assert top["document_id"] == docs["guide.md"]["id"]
    assert top["heading"] == ["Acme Router Guide", "Resetting the admin password"]
    assert "reset button" in top["text"]
    assert (
        GUIDE_MD.decode()[top["char_start"] : top["char_end"]] == top["text"]
    )  # citations point into the source

    top = _search(client, kb_id, "how long until I get my money back", top_k=3, mode="dense")[0]
    assert top["document_id"] == docs["billing.html"]["id"]
    assert "five to ten business days" in top["text"]
    assert "tracking" not in top["text"] and "Home" not in top["text"]  # scripts and nav dropped

    # Chat: answers from the passage and cites it.
    chat = client.post(f"/v1/knowledge-bases/{kb_id}/chat", json={"message": "How long do refunds take?"})
    assert chat.status_code == 200, chat.text
    body = chat.json()
    assert "business days" in body["answer"]
    assert body["citations"] and body["citations"][0]["document_id"] == docs["billing.html"]["id"]
    assert f"[{body['citations'][0]['index']}]" in body["answer"]
    follow_up = client.post(
        f"/v1/knowledge-bases/{kb_id}/chat",
        json={"message": "Which cards are accepted?", "conversation_id": body["conversation_id"]},
    )
    assert follow_up.json()["conversation_id"] == body["conversation_id"]

    # Delete one document: its vectors go, the others stay.
    guide_id = docs["guide.md"]["id"]
    assert _vector_count(client, kb_id, guide_id) > 0
    assert client.delete(f"/v1/knowledge-bases/{kb_id}/documents/{guide_id}").status_code == 204
    assert _vector_count(client, kb_id, guide_id) == 0
    assert client.get(f"/v1/knowledge-bases/{kb_id}/documents/{guide_id}").status_code == 404
    assert all(
        r["document_id"] != guide_id for r in _search(client, kb_id, "reset the admin password", top_k=20)
    )
    assert _vector_count(client, kb_id) > 0

    # Delete the knowledge base: everything goes.
    assert client.delete(f"/v1/knowledge-bases/{kb_id}").status_code == 204
    assert client.get(f"/v1/knowledge-bases/{kb_id}").status_code == 404
    assert _vector_count(client, kb_id) == 0


def test_json_text_upload_and_reupload_is_a_no_op(client: TestClient) -> None:
    kb_id = create_kb(client)
    body = {
        "text": "Our office is closed on public holidays.",
        "title": "Opening hours",
        "source": "https://x/hours",
    }
    first = client.post(f"/v1/knowledge-bases/{kb_id}/documents", json=body)
    assert first.status_code == 202, first.text
    item = first.json()["documents"][0]
    assert wait_for_job(client, item["job_id"])["status"] == "succeeded"
    count = _vector_count(client, kb_id)

    again = client.post(f"/v1/knowledge-bases/{kb_id}/documents", json=body).json()["documents"][0]
    assert again["unchanged"] is True and again["document_id"] == item["document_id"]
    assert len(client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]) == 1
    assert _vector_count(client, kb_id) == count
    hit = _search(client, kb_id, "when are you closed?")[0]
    assert hit["title"] == "Opening hours" and hit["source"] == "https://x/hours"


def test_knowledge_bases_are_isolated(client: TestClient) -> None:
    kb_a, kb_b = create_kb(client, "a"), create_kb(client, "b")
    ingest(client, kb_a, [FILES[2]])
    ingest(client, kb_b, [FILES[1]])
    assert all(
        "Rotterdam" not in r["text"] for r in _search(client, kb_b, "where do orders ship from", top_k=50)
    )
    assert any("Rotterdam" in r["text"] for r in _search(client, kb_a, "where do orders ship from", top_k=50))
    # Deleting B leaves A whole.
    client.delete(f"/v1/knowledge-bases/{kb_b}")
    assert _vector_count(client, kb_a) > 0


def test_one_bad_file_fails_alone(client: TestClient) -> None:
    kb_id = create_kb(client)
    junk = bytes(range(256)) * 40  # binary with NUL bytes, named .txt
    jobs = ingest(client, kb_id, [("notes.txt", junk, "text/plain"), FILES[2]])
    assert jobs[0]["status"] == "failed" and "binary" in jobs[0]["error"]
    assert jobs[0]["attempts"] == 1  # a bad document is not retried
    assert jobs[1]["status"] == "succeeded"
    docs = {d["filename"]: d for d in client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]}
    assert docs["notes.txt"]["status"] == "failed" and "binary" in docs["notes.txt"]["error"]
    assert docs["shipping.txt"]["status"] == "ready"

    # A failed document is retried in place from its stored upload (here it fails again, for the same
    # reason, through the queue); a ready one is not retried.
    failed, ready = docs["notes.txt"]["id"], docs["shipping.txt"]["id"]
    retried = client.post(f"/v1/knowledge-bases/{kb_id}/documents/{failed}/retry")
    assert retried.status_code == 202, retried.text
    again = wait_for_job(client, retried.json()["id"])
    assert again["status"] == "failed" and "binary" in again["error"] and again["id"] != jobs[0]["id"]
    refused = client.post(f"/v1/knowledge-bases/{kb_id}/documents/{ready}/retry")
    assert refused.status_code == 409 and "only a failed" in refused.json()["error"]["message"], refused.text


def test_hybrid_finds_exact_error_codes(client: TestClient) -> None:
    kb_id = create_kb(client)
    ingest(client, kb_id, FILES)
    hits = _search(client, kb_id, "E4471", mode="hybrid", top_k=1)
    assert "E4471" in hits[0]["text"]
    sparse = _search(client, kb_id, "E4471", mode="sparse", top_k=5)
    assert len(sparse) == 1 and "E4471" in sparse[0]["text"]


def test_chat_says_plainly_when_nothing_is_relevant(client: TestClient) -> None:
    kb_id = create_kb(client)
    ingest(client, kb_id, [FILES[2]])
    body = client.post(
        f"/v1/knowledge-bases/{kb_id}/chat", json={"message": "Who painted the Mona Lisa?"}
    ).json()
    assert body["citations"] == []
    assert "couldn't find" in body["answer"]


def test_upload_document_status_is_visible_while_queued(client: TestClient) -> None:
    kb_id = create_kb(client)
    item = upload(client, kb_id, [FILES[0]])[0]
    detail = client.get(f"/v1/knowledge-bases/{kb_id}/documents/{item['document_id']}").json()
    assert detail["job"]["id"] == item["job_id"]
    assert detail["status"] in ("queued", "processing", "ready")
    wait_for_job(client, item["job_id"])
    detail = client.get(f"/v1/knowledge-bases/{kb_id}/documents/{item['document_id']}").json()
    assert detail["status"] == "ready" and detail["chunk_count"] >= 3 and detail["job"]["progress"] == 1.0


def test_pdf_docx_csv_and_transcripts_are_searchable_with_locations(client: TestClient) -> None:
    from tests.fixtures_formats import CSV, VTT, make_docx, make_pdf

    kb_id = create_kb(client)
    pdf = make_pdf(["Welcome to the manual.", "To factory reset the router hold the button for ten seconds."])
    files = [
        ("manual.pdf", pdf, "application/pdf"),
        ("warranty.docx", make_docx(), "application/octet-stream"),
        ("catalogue.csv", CSV, "text/csv"),
        ("setup.vtt", VTT, "text/vtt"),
    ]
    jobs = ingest(client, kb_id, files)
    assert [j["status"] for j in jobs] == ["succeeded"] * 4, jobs

    def top(query: str) -> dict:
        return _search(client, kb_id, query, top_k=1)[0]

    assert top("how long is the warranty")["title"] == "Warranty handbook"
    assert top("factory reset router manual")["location"] in ({"page": 2}, {"start_s": 62.25, "end_s": 67.0})
    pdf_hit = _search(
        client, kb_id, "factory reset", top_k=5, filters={"content_types": ["application/pdf"]}
    )[0]
    assert pdf_hit["location"] == {"page": 2}
    video_hit = _search(client, kb_id, "pinhole button", top_k=1)[0]
    assert video_hit["location"]["start_s"] >= 1.0 and video_hit["source"] == "setup.vtt"
    row = top("price of the Acme Router Pro")
    assert "R-200" in row["text"] and row["location"]["row"] == 2
    chat = client.post(
        f"/v1/knowledge-bases/{kb_id}/chat", json={"message": "How much is the Acme Router Pro?"}
    )
    assert any(c["location"].get("row") for c in chat.json()["citations"])
