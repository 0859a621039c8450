"""The sweep after a switch deletes a knowledge base's old points, but never loses a document that a
lagging process (one that had not followed the switch yet) finished into the old collection."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.db.models import Document, utcnow
from finetune.rollout import sweep
from tests.conftest import AUTH, create_kb, ingest, wait_for_job
from tests.finetune.test_rollout import DOCS
from tests.finetune.versions import register_copy


def test_the_sweep_requeues_documents_finished_on_the_old_encoder(make_settings, embedder) -> None:
    from backend.api.app import create_app

    settings = make_settings(encoder={"drop_old_after_s": 3600})  # the scheduled sweep waits; run it here
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_id, other = create_kb(client, "moving"), create_kb(client, "staying")
        ingest(client, kb_id, DOCS[:2])
        ingest(client, other, DOCS[:1])
        services = client.app.state.services  # type: ignore[attr-defined]
        register_copy(client, embedder, "own", kb_id=kb_id)
        job = client.post(f"/v1/knowledge-bases/{kb_id}/encoder", json={"version": "own"})
        assert wait_for_job(client, job.json()["id"], timeout=300)["status"] == "succeeded"
        switched_at = utcnow()
        old, home = services.encoders.base.vectors, services.encoders.snapshot(kb_id).vectors
        assert old.count(kb_id=kb_id) == home.count(kb_id=kb_id) > 0  # the old points wait for the sweep

        # A worker that had not followed the switch re-ingested one document into the old collection.
        document = client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"][0]
        home.delete_document(kb_id=kb_id, document_id=document["id"])
        with services.sessions.begin() as session:
            session.execute(update(Document).where(Document.id == document["id"]).values(updated_at=utcnow()))

        result = sweep(services, kb_id, switched_at)
        assert result["requeued_documents"] == 1 and result["swept"] == [old.collection]
        assert old.count(kb_id=kb_id) == 0 and old.count(kb_id=other) > 0  # only this KB's old points
        requeued = client.get(f"/v1/knowledge-bases/{kb_id}/documents/{document['id']}").json()["job"]
        assert wait_for_job(client, requeued["id"])["status"] == "succeeded"
        assert home.count(kb_id=kb_id, document_id=document["id"]) == document["chunk_count"] > 0


def test_a_failed_activation_leaves_the_knowledge_base_on_its_encoder(make_settings, embedder) -> None:
    """A version whose weights are gone (a volume not mounted): the job fails with a message saying so,
    and the knowledge base keeps searching on the encoder it had."""
    from backend.api.app import create_app

    with TestClient(create_app(make_settings(), embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client)
        ingest(client, kb_id, DOCS[2:])
        register_copy(client, embedder, "lost", kb_id=kb_id, weights=False)
        before = client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": "shipping"}).json()
        job = client.post(f"/v1/knowledge-bases/{kb_id}/encoder", json={"version": "lost"})
        failed = wait_for_job(client, job.json()["id"], timeout=120)
        assert failed["status"] == "failed" and "cannot load encoder" in failed["error"], failed
        assert client.get(f"/v1/knowledge-bases/{kb_id}").json()["encoder"]["version"] == "base"
        after = client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": "shipping"}).json()
        assert after["results"] == before["results"] and after["results"]
