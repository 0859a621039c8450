"""``doctor``: every disagreement a crash can leave between the database and the vector store is
found, repaired from the database's truth, and the repaired state is consistent."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.api.app import create_app
from backend.catalog.consistency import diagnose, repair
from backend.db.models import Document, DocumentStatus, Job, JobStatus
from backend.retrieval.stored_sentences import unpack
from backend.text.sentences import sentence_spans
from backend.vectorstore.base import ChunkRecord, SparseVector
from backend.vectorstore.ids import point_id
from tests.conftest import AUTH, create_kb, ingest, wait_for_job
from tests.fixtures_docs import BILLING_HTML, GUIDE_MD, SHIPPING_TXT


def test_doctor_finds_and_repairs_every_kind_of_drift(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    vectors, sessions = services.encoders.base.vectors, services.sessions
    stores, home = [vectors], lambda _kb_id: vectors.collection
    kb_id = create_kb(client)
    ingest(
        client,
        kb_id,
        [("guide.md", GUIDE_MD, "text/markdown"), ("billing.html", BILLING_HTML, "text/html")],
    )
    documents = client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]
    guide = next(d for d in documents if d["filename"] == "guide.md")
    billing = next(d for d in documents if d["filename"] == "billing.html")
    assert diagnose(sessions, stores, home).healthy

    # 1. Orphans: points of a document the database never finished (a crash after upsert).
    ghost = "00000000-0000-0000-0000-000000000042"
    dense = np.ones(vectors.dimension, dtype=np.float32) / np.sqrt(vectors.dimension)
    vectors.upsert(
        [
            ChunkRecord(
                point_id(ghost, i, "x"),
                dense,
                SparseVector([1], [1.0]),
                {"kb_id": kb_id, "document_id": ghost, "text": "x", "chunk_index": i},
            )
            for i in range(3)
        ]
    )
    # 2. Missing: a ready document lost its points (a crash before upsert, a restored backup).
    vectors.delete_document(kb_id=kb_id, document_id=guide["id"])
    # 3. Stuck: a document left "processing" with its job gone.
    with sessions.begin() as session:
        session.execute(
            update(Job).where(Job.document_id == billing["id"]).values(status=JobStatus.CANCELLED)
        )
        session.execute(
            update(Document).where(Document.id == billing["id"]).values(status=DocumentStatus.PROCESSING)
        )

    found = diagnose(sessions, stores, home)
    assert found.orphaned == {f"{kb_id}/{ghost}": 3}
    assert found.missing == {guide["id"]: (guide["chunk_count"], 0)}
    assert found.stuck == [billing["id"]]
    assert not found.healthy

    assert repair(sessions, stores, home, found) == {
        "orphaned_deleted": 1,
        "stale_deleted": 0,
        "documents_requeued": 2,
        "documents_requeued_for_sentence_vectors": 0,
    }
    services.wake_workers()
    for document in (guide, billing):
        job = client.get(f"/v1/knowledge-bases/{kb_id}/documents/{document['id']}").json()["job"]
        assert wait_for_job(client, job["id"])["status"] == "succeeded"
    assert diagnose(sessions, stores, home).healthy
    assert vectors.count(kb_id=kb_id, document_id=guide["id"]) == guide["chunk_count"]
    assert vectors.count(kb_id=kb_id, document_id=ghost) == 0


def test_points_of_a_failed_document_are_orphans(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    kb_id = create_kb(client)
    (job,) = ingest(client, kb_id, [("shipping.txt", SHIPPING_TXT, "text/plain")])
    document_id = job["document_id"]
    with services.sessions.begin() as session:
        session.execute(
            update(Document)
            .where(Document.id == document_id)
            .values(status=DocumentStatus.FAILED, error="boom")
        )
    stores, home = services.encoders.collections_in_use()
    found = diagnose(services.sessions, stores, home)
    assert list(found.orphaned) == [f"{kb_id}/{document_id}"]
    repair(services.sessions, stores, home, found)
    assert services.encoders.base.vectors.count(kb_id=kb_id) == 0


def test_chunks_stored_without_sentence_vectors_get_them_from_the_fix(make_settings, embedder) -> None:
    with TestClient(
        create_app(make_settings(chunking={"sentence_vectors": False}), embedder=embedder)
    ) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client)
        ingest(client, kb_id, [("guide.md", GUIDE_MD, "text/markdown")])
        [guide] = client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]

    # The same data, served by a release that stores sentence vectors (the default).
    with TestClient(create_app(make_settings(), embedder=embedder)) as client:
        client.headers.update(AUTH)
        services = client.app.state.services  # type: ignore[attr-defined]
        sessions, (stores, home) = services.sessions, services.encoders.collections_in_use()
        models = services.encoders.collection_models()
        assert models == {services.encoders.base.vectors.collection: embedder.model_id}
        found = diagnose(sessions, stores, home, models)
        assert found.healthy and not found.complete  # work left undone, not damage
        assert found.unsentenced == {guide["id"]: guide["chunk_count"]}
        assert diagnose(sessions, stores, home).complete  # not looked for when not asked

        assert repair(sessions, stores, home, found)["documents_requeued_for_sentence_vectors"] == 1
        services.wake_workers()
        job = client.get(f"/v1/knowledge-bases/{kb_id}/documents/{guide['id']}").json()["job"]
        job = wait_for_job(client, job["id"])
        assert job["status"] == "succeeded" and job["result"]["embedded"] == 0  # chunk vectors reused
        vectors = services.encoders.base.vectors
        payloads = [r.payload for batch in vectors.scan(kb_id=kb_id, vectors=False) for r in batch]
        assert len(payloads) == guide["chunk_count"]
        for payload in payloads:
            assert unpack(payload, embedder.model_id, len(sentence_spans(payload["text"]))) is not None
        assert diagnose(sessions, stores, home, models).complete
