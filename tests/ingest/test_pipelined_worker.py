"""The worker prepares the next batch while the current one is embedded: every document is still
ingested exactly once, and a worker that stops hands its batch claimed ahead back to the queue."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.catalog import documents as docs
from backend.catalog import knowledge_bases as kbs
from backend.db.models import Document, DocumentStatus, Job, JobStatus
from backend.services import Services

pytestmark = pytest.mark.both_databases  # claims, hand-backs and leases


def _upload(services: Services, n: int) -> str:
    with services.sessions.begin() as session:
        kb_id = kbs.create(session, name="pipelined").id
        for i in range(n):
            body = f"Topic {i}\n\nDocument number {i} explains setting {i} of the router in detail."
            docs.accept_upload(
                session, kb_id=kb_id, data=body.encode(), format="text", name=f"d{i}", max_bytes=10**6
            )
    return kb_id


def test_batches_are_prepared_ahead_and_handed_back_on_stop(make_settings, embedder) -> None:
    services = Services.build(
        make_settings(ingest={"batch_documents": 2}, worker={"embedded": False}), embedder=embedder
    )
    try:
        kb_id = _upload(services, 6)
        worker = services.make_worker()
        assert worker.run_once()  # the first batch runs; the second is claimed and prepared meanwhile
        with services.sessions() as session:
            jobs = session.scalars(select(Job).where(Job.kb_id == kb_id)).all()
            states = sorted(j.status.value for j in jobs)
        assert states == ["queued", "queued", "running", "running", "succeeded", "succeeded"]
        worker.stop()  # hands the prepared batch back: queued again, the attempt not counted
        with services.sessions() as session:
            jobs = session.scalars(select(Job).where(Job.kb_id == kb_id)).all()
            assert sorted(j.status.value for j in jobs).count("queued") == 4
            assert all(j.attempts == 0 for j in jobs if j.status == JobStatus.QUEUED)
            assert DocumentStatus.PROCESSING not in {
                d.status for d in session.scalars(select(Document).where(Document.kb_id == kb_id))
            }
        fresh = services.make_worker()
        while fresh.run_once():
            pass
        with services.sessions() as session:
            documents = session.scalars(select(Document).where(Document.kb_id == kb_id)).all()
            assert {d.status for d in documents} == {DocumentStatus.READY}
            jobs = session.scalars(select(Job).where(Job.kb_id == kb_id)).all()
            assert all(j.status == JobStatus.SUCCEEDED and j.attempts == 1 for j in jobs)
        assert services.encoders.base.vectors.size() == sum(d.chunk_count for d in documents)  # exactly once
    finally:
        services.close()
