"""The "activate_encoder" job: move one knowledge base (or each one) to another encoder, or to the
current keyword analysis; then a sweep.

A collection is named by its encoder and its keyword analysis (backend/keywords), so both moves are
one path. For one knowledge base, with zero downtime and without touching any other knowledge base:
1. the target collection is prepared (every knowledge base on that encoder and analysis shares it);
2. the knowledge base's chunks are re-embedded from the exact text the old encoder read, when the
   encoder changes, and their sparse vectors rebuilt from the same text in the chunk's language, when
   the analysis changes (payload and id are kept, so nothing is re-parsed and citations do not
   change; a move of analysis alone costs no encoder call);
3. the knowledge base is switched in the database and, at once, in this process; other processes
   follow within ``KBCHAT_ENCODER__FOLLOW_INTERVAL_S``. A search in flight finishes on the snapshot
   it took, so a query vector never meets vectors of another model;
4. its documents ingested into the old collection while 2. ran are queued again, and points of
   documents deleted meanwhile are taken back from the new collection; its last tune runs again with
   the same pairs, so its fusion weights and confidence model fit the new encoder's scores;
5. after ``KBCHAT_ENCODER__DROP_OLD_AFTER_S`` a sweep job deletes the knowledge base's points from
   every other collection and drops the collections that no knowledge base uses any more.

Other knowledge bases are never read or written: their search results do not change by a byte. A
crash before 3. leaves the knowledge base on its old encoder (the job's error says why) and
half-written points in the target that the next attempt overwrites (ids are deterministic) or the
sweep removes. "Activate for every knowledge base" runs 1.–4. for each, one at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.catalog import encoders, tuning
from backend.catalog.documents import requeue
from backend.db.models import Document, DocumentStatus, Job, JobStatus, KnowledgeBase, utcnow
from backend.errors import Conflict
from backend.jobs.kinds import ACTIVATE_JOB, SWEEP_JOB
from backend.jobs.queue import enqueue
from backend.jobs.worker import JobContext, JobHandler
from backend.keywords import CURRENT
from backend.plugins import PluginHost
from finetune.reembedding import moved

log = logging.getLogger(__name__)
BATCH = 256
Report = Callable[..., None]


def make_activate_handler(services: PluginHost) -> JobHandler:
    def handle(ctx: JobContext) -> None:
        version_id = ctx.job.payload.get("version_id")
        if ctx.job.kb_id is not None:
            ctx.result = activate_for_kb(services, ctx.job.kb_id, version_id, ctx.report)
        else:
            ctx.result = activate_everywhere(services, version_id, ctx.report)

    return handle


def make_sweep_handler(services: PluginHost) -> JobHandler:
    def handle(ctx: JobContext) -> None:
        switched_at = ctx.job.payload.get("switched_at")
        ctx.result = sweep(
            services, ctx.job.payload["kb_id"], datetime.fromisoformat(switched_at) if switched_at else None
        )

    return handle


def _quiet(*_args: Any, **_kwargs: Any) -> None:
    return None


def activate_for_kb(
    services: PluginHost,
    kb_id: str,
    version_id: str | None,
    report: Report | None = None,
    *,
    operator: bool = False,
) -> dict[str, Any]:
    """Serve ``kb_id`` with ``version_id`` (None: the base model); see the module doc.

    ``operator``: the service-wide activation, which may use a version another knowledge base owns."""
    report = report or _quiet
    services.follow_encoders()
    old = services.encoders.snapshot(kb_id)
    if old.version_id == version_id and old.keywords.version == CURRENT:
        raise Conflict(f"{old.name!r} already serves knowledge base {kb_id}")
    with services.sessions() as session:  # the encoder serving it may stay (a move of keywords only)
        if version_id is not None and version_id != old.version_id and not operator:
            encoders.check_usable(encoders.get(session, version_id), kb_id)
    report("loading the encoder", 0.01, force=True)
    target = services.encoders.version(version_id)
    export = getattr(target.embedder, "export_for_questions", None)
    if export is not None:  # the API's first search on it then finds the ONNX file made (torch: nothing)
        export(services.settings.encoder.query_runtime, services.settings.artifacts_path)
    if target.vectors.collection == old.vectors.collection:
        raise Conflict(f"{target.name!r} and {old.name!r} are the same encoder ({target.model_id})")
    what = "re-embedding" if target.model_id != old.model_id else "re-indexing keywords"
    target.vectors.prepare()  # a sweep may have dropped it since this process opened it
    started_at, t0 = utcnow(), time.perf_counter()
    total, done = max(1, old.vectors.count(kb_id=kb_id)), 0
    copied: set[str] = set()
    for batch in old.vectors.scan(kb_id=kb_id, batch=BATCH):
        target.vectors.upsert(
            moved(batch, old, target, sentences=services.settings.chunking.sentence_vectors)
        )
        copied.update(r.payload.get("document_id", "") for r in batch)
        done += len(batch)
        report(what, 0.02 + 0.88 * done / total)
    log.info(
        "kb %s: %s of %d chunks for %s (keywords %s) in %.1fs",
        kb_id,
        what,
        done,
        target.model_id,
        target.keywords.version,
        time.perf_counter() - t0,
    )

    report("switching", 0.92, force=True)
    with services.sessions.begin() as session:
        encoders.assign(session, kb_id, version_id, target.keywords.version)
    services.encoders.assign(kb_id, version_id, target.keywords.version)
    log.info("kb %s: now served by %s (collection %s)", kb_id, target.name, target.vectors.collection)
    with services.sessions.begin() as session:
        requeued = _queue_changed_documents(session, services, kb_id, started_at)
        gone = copied - set(
            session.scalars(select(Document.id).where(Document.kb_id == kb_id, Document.id.in_(copied)))
        )
        _schedule_sweep(session, services, kb_id, switched_at=utcnow())
        retuned = tuning.retune(session, kb_id)  # its fusion weights and confidence model, on the new scores
    for document_id in gone:  # deleted while it was being copied: its points must not come back
        target.vectors.delete_document(kb_id=kb_id, document_id=document_id)
    if requeued or retuned:
        services.wake_workers()
    return {
        "knowledge_base": kb_id,
        "encoder": target.model_id,
        "version": target.name,
        "version_id": version_id,
        "previous": old.name,
        "keywords": target.keywords.version,
        "previous_keywords": old.keywords.version,
        "collection": target.vectors.collection,
        "chunks": done,
        "requeued_documents": requeued,
        "retune_job_id": retuned.id if retuned else None,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def activate_everywhere(
    services: PluginHost, version_id: str | None, report: Report | None = None
) -> dict[str, Any]:
    """The operator's service-wide switch: make ``version_id`` the default for new knowledge bases and
    move every existing one to it, one knowledge base at a time (each one's search keeps answering)."""
    report = report or _quiet
    with services.sessions.begin() as session:
        encoders.set_default(session, encoders.get(session, version_id) if version_id else None)
        kb_ids = list(session.scalars(select(KnowledgeBase.id).order_by(KnowledgeBase.created_at)))
    services.follow_encoders()
    moved, chunks = [], 0
    for i, kb_id in enumerate(kb_ids):
        current = services.encoders.snapshot(kb_id)
        if current.version_id == version_id and current.keywords.version == CURRENT:
            continue

        def scaled(stage: str, fraction: float | None = None, *, force: bool = False, i: int = i) -> None:
            report(f"{stage} ({i + 1}/{len(kb_ids)})", (i + (fraction or 0)) / len(kb_ids), force=force)

        result = activate_for_kb(services, kb_id, version_id, scaled, operator=True)
        moved.append(kb_id)
        chunks += result["chunks"]
    target = services.encoders.version(version_id)
    return {
        "encoder": target.model_id,
        "version": target.name,
        "version_id": version_id,
        "knowledge_bases": len(moved),
        "chunks": chunks,
    }


def _schedule_sweep(session: Session, services: PluginHost, kb_id: str, *, switched_at: datetime) -> Job:
    """The knowledge base id travels in the payload, not the job's column: the sweep must still run
    (and remove every point) when the knowledge base is deleted before it."""
    delay = services.settings.encoder.drop_old_after_s
    return enqueue(
        session,
        kind=SWEEP_JOB,
        payload={"kb_id": kb_id, "switched_at": switched_at.isoformat()},
        max_attempts=services.settings.ingest.max_attempts,
        run_after=utcnow() + timedelta(seconds=delay),
    )


def sweep(services: PluginHost, kb_id: str, switched_at: datetime | None = None) -> dict[str, Any]:
    """Delete ``kb_id``'s points outside its encoder's collection; drop collections nobody uses.

    Skipped while an activation for the knowledge base is pending: it schedules a sweep of its own.
    A worker in another process may have finished a document into the old collection after the
    switch (it had not yet followed it): such documents, finished since ``switched_at`` but short of
    points in the new collection, are queued again first, so the sweep never loses them."""
    with services.sessions() as session:
        pending = session.scalar(
            select(Job.id).where(
                Job.kind == ACTIVATE_JOB,
                Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
                (Job.kb_id == kb_id) | Job.kb_id.is_(None),
            )
        )
        if pending is not None:
            return {"skipped": f"activation {pending} is pending; it sweeps when it ends"}
        exists = session.get(KnowledgeBase, kb_id) is not None
    services.follow_encoders()
    home_store = services.encoders.snapshot(kb_id).vectors if exists else None
    home = home_store.collection if home_store is not None else None
    requeued = _requeue_lagging(services, kb_id, home_store, switched_at) if home_store and switched_at else 0
    collections = services.encoders.registered_collections()
    swept = []
    for name, store in collections.items():
        if name != home and store.count(kb_id=kb_id):
            store.delete_knowledge_base(kb_id=kb_id)
            swept.append(name)
            log.info("kb %s: old points deleted from %s", kb_id, name)
    return {"swept": swept, "dropped": drop_unused(services, collections), "requeued_documents": requeued}


def _requeue_lagging(services: PluginHost, kb_id: str, home: Any, switched_at: datetime) -> int:
    with services.sessions() as session:
        recent = session.execute(
            select(Document.id, Document.chunk_count).where(
                Document.kb_id == kb_id,
                Document.updated_at >= switched_at,
                Document.status == DocumentStatus.READY,
            )
        ).all()
    lagging = [doc for doc, chunks in recent if home.count(kb_id=kb_id, document_id=doc) != chunks]
    if not lagging:
        return 0
    with services.sessions.begin() as session:
        for document in session.scalars(select(Document).where(Document.id.in_(lagging))):
            requeue(session, document, max_attempts=services.settings.ingest.max_attempts)
    log.warning(
        "kb %s: %d document(s) were finished on the old encoder after the switch; queued again",
        kb_id,
        len(lagging),
    )
    services.wake_workers()
    return len(lagging)


def drop_unused(services: PluginHost, collections: dict[str, Any] | None = None) -> list[str]:
    """Drop the collections of versions that serve no knowledge base and no pending activation fills."""
    collections = collections if collections is not None else services.encoders.registered_collections()
    with services.sessions() as session:
        default = encoders.default(session)
        wanted = {
            *encoders.places(session),
            *((version_id, CURRENT) for version_id in encoders.pending_targets(session)),
            (default.id if default else None, CURRENT),
        }
    # Resolved after the read closes: on SQLite a second session inside it would wait for its lock.
    in_use = {services.encoders.collection_of(v, k) for v, k in wanted} | {
        services.encoders.base.vectors.collection
    }
    dropped = []
    for name, store in collections.items():
        if name not in in_use and services.encoders.drop(store.encoder_id):
            dropped.append(name)
            log.info("collection %s dropped: no knowledge base uses its encoder", name)
    return dropped


def _queue_changed_documents(session: Session, services: PluginHost, kb_id: str, since: datetime) -> int:
    """The knowledge base's documents finished after the re-embedding began are in the old collection
    only: queue them again (they reuse nothing and cost only their own chunks)."""
    changed = session.scalars(
        select(Document).where(
            Document.kb_id == kb_id, Document.updated_at >= since, Document.status == DocumentStatus.READY
        )
    ).all()
    for document in changed:
        requeue(session, document, max_attempts=services.settings.ingest.max_attempts)
    return len(changed)
