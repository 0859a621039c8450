"""What the console needs from the API beyond the rest: who a bearer is, and renaming a knowledge base
without breaking anything that refers to it by id."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import create_kb, ingest
from tests.fixtures_docs import GUIDE_MD


def test_whoami_says_admin_or_the_keys_one_kb_and_scopes(client: TestClient) -> None:
    assert client.get("/v1/whoami").json() == {"admin": True, "kb_id": None, "scopes": []}
    kb_id = create_kb(client, "docs")
    key = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"scopes": ["search"]}).json()["key"]
    as_key = client.get("/v1/whoami", headers={"Authorization": f"Bearer {key}"})
    assert as_key.json() == {"admin": False, "kb_id": kb_id, "scopes": ["search"]}
    # Only whoami opened to keys: the admin's list stays closed to them.
    listed = client.get("/v1/knowledge-bases", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 403
    anonymous = client.get("/v1/whoami", headers={"Authorization": ""})
    assert anonymous.status_code == 401 and "bearer" in anonymous.json()["error"]["message"]


def test_rename_keeps_the_id_and_refuses_a_taken_or_blank_name(client: TestClient) -> None:
    kb_id = create_kb(client, "docs")
    create_kb(client, "taken")
    key = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"scopes": ["read"]}).json()["key"]
    renamed = client.patch(f"/v1/knowledge-bases/{kb_id}", json={"name": "  Help centre  "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Help centre"
    read = client.get(f"/v1/knowledge-bases/{kb_id}", headers={"Authorization": f"Bearer {key}"})
    assert read.json()["name"] == "Help centre"  # the key still works: it names the id
    clash = client.patch(f"/v1/knowledge-bases/{kb_id}", json={"name": "taken"})
    assert clash.status_code == 409 and "pick another name" in clash.json()["error"]["message"]
    blank = client.patch(f"/v1/knowledge-bases/{kb_id}", json={"name": ""})
    assert blank.status_code == 422
    same = client.patch(f"/v1/knowledge-bases/{kb_id}", json={"name": "Help centre"})
    assert same.status_code == 200  # renaming to its own name is no clash
    assert client.get(f"/v1/knowledge-bases/{kb_id}").json()["name"] == "Help centre"


def test_a_documents_chunks_in_order_with_their_heading_path(client: TestClient) -> None:
    kb_id = create_kb(client, "docs")
    document_id = ingest(client, kb_id, [("guide.md", GUIDE_MD, "text/markdown")])[0]["document_id"]
    path = f"/v1/knowledge-bases/{kb_id}/documents/{document_id}/chunks"
    listed = client.get(path).json()
    total = client.get(f"/v1/knowledge-bases/{kb_id}/documents/{document_id}").json()["chunk_count"]
    assert listed["total"] == total == len(listed["data"]) > 1
    assert [c["index"] for c in listed["data"]] == list(range(total))
    reset = next(c for c in listed["data"] if "reset button" in c["text"])
    assert reset["heading"] == ["Acme Router Guide", "Resetting the admin password"]
    assert reset["lang"] == "en" and reset["char_end"] - reset["char_start"] == len(reset["text"])
    page = client.get(path, params={"offset": 1, "limit": 1}).json()
    assert [c["index"] for c in page["data"]] == [1] and page["total"] == total
    assert client.get(path, params={"limit": 201}).status_code == 422  # bounded before any work
    assert client.get(f"/v1/knowledge-bases/{kb_id}/documents/nope/chunks").status_code == 404
    key = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"scopes": ["read"]}).json()["key"]
    assert client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_the_document_list_carries_each_documents_tags(client: TestClient) -> None:
    kb_id = create_kb(client, "tagged")
    response = client.post(
        f"/v1/knowledge-bases/{kb_id}/documents",
        json={"title": "Returns", "text": "Return shoes within 45 days.", "tags": ["policy", " shoes "]},
    )
    assert response.status_code == 202, response.text
    listed = client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]
    assert [d["tags"] for d in listed] == [["policy", "shoes"]]


def test_a_busy_document_in_the_list_says_what_its_job_is_doing(make_settings, embedder) -> None:
    """No worker runs here, so the upload stays queued; its job's stage and progress are then set as a
    worker reports them, and the list shows them on that document only."""
    from backend.api.app import create_app
    from backend.db.models import Job
    from tests.conftest import AUTH

    app = create_app(make_settings(worker={"embedded": False}), embedder=embedder)
    with TestClient(app) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client, "busy")
        accepted = client.post(
            f"/v1/knowledge-bases/{kb_id}/documents",
            json={"title": "Returns", "text": "Return within 45 days."},
        ).json()["documents"][0]
        with app.state.services.sessions.begin() as session:
            job = session.get(Job, accepted["job_id"])
            job.stage, job.progress = "embedding", 0.4
        (listed,) = client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]
        assert (listed["status"], listed["stage"], listed["progress"]) == ("queued", "embedding", 0.4)
