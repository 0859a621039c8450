"""``doctor``: every disagreement a crash can leave between the database and the vector store is
found, repaired from the database's truth, and the repaired state is consistent."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.catalog.consistency import diagnose, repair
from backend.db.models import Document, DocumentStatus, Job, JobStatus
from backend.vectorstore.base import ChunkRecord, SparseVector
from backend.vectorstore.ids import point_id
from tests.conftest import create_kb, ingest, wait_for_job
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
