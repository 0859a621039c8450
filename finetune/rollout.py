"""The "activate_encoder" job: re-embed every knowledge base with a new encoder, then switch to it.

Zero downtime, in this order:
1. the new encoder's collection is built next to the active one (search keeps using the old one);
2. every stored chunk is re-embedded from the exact text the old encoder read (payload, sparse vector
   and id are kept, so nothing is re-parsed and citations do not change);
3. the alias is switched atomically, then this process swaps its (encoder, collection) pair in one
   assignment; other processes follow within ``KBCHAT_ENCODER__FOLLOW_INTERVAL_S``;
4. documents ingested into the old collection while 2. ran are queued again (they reuse nothing and
   cost only their own chunks);
5. after a grace period for searches still in flight, the old collection is dropped.

A crash anywhere before 3. leaves the old encoder active and a half-built collection that the next
attempt overwrites (ids are deterministic); after 3. the registry and the alias agree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.catalog import encoders
from backend.catalog.documents import INGEST_JOB
from backend.db.models import Document, DocumentStatus, utcnow
from backend.errors import Conflict
from backend.jobs.queue import enqueue
from backend.jobs.worker import JobContext, JobHandler
from backend.services import Services, load_embedder
from backend.vectorstore.base import embedding_text

log = logging.getLogger(__name__)
BATCH = 256


def make_activate_handler(services: Services) -> JobHandler:
    def handle(ctx: JobContext) -> None:
        ctx.result = activate_encoder(services, ctx.job.payload.get("version_id"), ctx.report)

    return handle


def activate_encoder(
    services: Services, version_id: str | None, report: Callable[..., None] | None = None
) -> dict[str, Any]:
    """Make ``version_id`` (None: the configured base model) the active encoder; see the module doc."""
    report = report or (lambda *args, **kwargs: None)
    with services.sessions() as session:
        version = encoders.get(session, version_id) if version_id else None
        path = version.path if version is not None else None
    report("loading the encoder", 0.01, force=True)
    embedder = load_embedder(services.settings, path)
    old = services.vectors
    target = old.sibling(encoder_id=embedder.model_id, dimension=embedder.dimension)
    if target.collection == old.collection:
        raise Conflict(f"{embedder.model_id} is already the active encoder")
    target.prepare()
    started_at = utcnow()
    total, done, t0 = max(1, old.size()), 0, time.perf_counter()
    for batch in old.scan(batch=BATCH):
        vectors = embedder.embed_documents([embedding_text(r.payload) for r in batch])
        target.upsert([replace(r, dense=v) for r, v in zip(batch, vectors, strict=True)])
        done += len(batch)
        report("re-embedding", 0.02 + 0.88 * done / total)
    log.info("re-embedded %d chunks with %s in %.1fs", done, embedder.model_id, time.perf_counter() - t0)

    report("switching", 0.92, force=True)
    with services.encoder_lock:  # the alias, the registry and this process switch together
        target.make_active()
        with services.sessions.begin() as session:
            encoders.mark_active(session, encoders.get(session, version_id) if version_id else None)
        services.switch_encoder(embedder, version_id)
    with services.sessions.begin() as session:
        requeued = _queue_changed_documents(session, services, started_at)

    report("draining the old collection", 0.95, force=True)
    time.sleep(services.settings.encoder.drop_old_after_s)
    old.drop()
    old.close()
    return {
        "encoder": embedder.model_id,
        "version_id": version_id,
        "collection": target.collection,
        "chunks": done,
        "requeued_documents": requeued,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _queue_changed_documents(session: Session, services: Services, since: datetime) -> int:
    """Documents finished after the re-embedding began are in the old collection only: queue them again."""
    changed = session.scalars(
        select(Document).where(Document.updated_at >= since, Document.status == DocumentStatus.READY)
    ).all()
    for document in changed:
        document.status = DocumentStatus.QUEUED
        enqueue(
            session,
            kind=INGEST_JOB,
            kb_id=document.kb_id,
            document_id=document.id,
            payload={"reconcile": True},
            max_attempts=services.settings.ingest.max_attempts,
        )
    if changed:
        services.wake_workers()
    return len(changed)
