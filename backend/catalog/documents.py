"""Document data functions: accept an upload, list, delete (vectors included).

An upload is stored whole in the database together with its ingestion job, in one transaction:
once the API has answered 202, the work cannot be lost.

Re-uploads are cheap by design: identical bytes anywhere in the knowledge base are a no-op, and new
bytes under the ``source`` of an existing document (the same file name, the same URL) replace that
document in place: it keeps its id (so links and citations stay valid), its old version stays
searchable until the new one is stored, and only chunks whose text changed are embedded again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import duplicates
from backend.catalog.formats import MEDIA_TYPES
from backend.db.models import Document, DocumentContent, DocumentStatus, Job, JobStatus, utcnow
from backend.errors import EmptyContent, InvalidInput, NotFound, PayloadTooLarge
from backend.jobs.kinds import INGEST_JOB
from backend.jobs.queue import enqueue
from backend.vectorstore.base import VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Accepted:
    document: Document
    job: Job | None
    unchanged: bool
    """True when the same content is already stored and searchable: nothing to do, no job. While the
    first copy is still being ingested, an identical upload gets that copy's live job instead."""
    replaced: bool = False
    """True when the upload is a new version of an existing document (the same source)."""


def accept_upload(
    session: Session,
    *,
    kb_id: str,
    data: bytes,
    format: str,
    name: str,
    title: str | None = None,
    source: str | None = None,
    filename: str | None = None,
    tags: list[str] | None = None,
    max_bytes: int,
    max_attempts: int = 3,
    replace: bool = True,
) -> Accepted:
    """Store an upload and queue its ingestion. With ``replace``, an existing document with the same
    ``source`` gets the new content (a new version) instead of a second document being created."""
    if not data.strip():
        raise EmptyContent(f"{name} is empty; upload a file with text in it")
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"{name} is {len(data):,} bytes; the limit is {max_bytes:,} (KBCHAT_INGEST__MAX_UPLOAD_BYTES)"
        )
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(
        select(Document).where(
            Document.kb_id == kb_id, Document.content_hash == digest, Document.status != DocumentStatus.FAILED
        )
    )
    if existing is not None and existing.status == DocumentStatus.READY:
        log.info("upload %s to kb %s is identical to document %s; nothing to do", name, kb_id, existing.id)
        return Accepted(existing, None, unchanged=True)
    if existing is not None:  # the same bytes are on their way in: follow that work, do not repeat it
        live = session.scalar(
            select(Job)
            .where(Job.document_id == existing.id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            .order_by(Job.created_at.desc())
            .limit(1)
        )
        if live is not None:
            log.info("upload %s to kb %s is document %s, still being ingested", name, kb_id, existing.id)
            return Accepted(existing, live, unchanged=False)
    source = (source or name)[:2000]
    meta = {"format": format, "title_given": title is not None, "tags": clean_tags(tags or [])}
    document = (
        session.scalar(select(Document).where(Document.kb_id == kb_id, Document.source == source).limit(1))
        if replace
        else None
    )
    replaced = document is not None
    if document is None:
        document = Document(kb_id=kb_id, source=source)
        session.add(document)
    else:
        log.info("upload %s replaces the content of document %s in kb %s", name, document.id, kb_id)
        # A queued job for the old bytes is superseded; a running one finishes, sees that the content
        # changed and leaves the document to the new job (claims are serialised per document).
        session.execute(
            update(Job)
            .where(Job.document_id == document.id, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.CANCELLED, finished_at=utcnow(), error="superseded by a newer upload")
        )
    document.title = (title or name)[:500]
    document.filename = filename[:500] if filename else None
    document.content_type = MEDIA_TYPES[format]
    document.content_hash = digest
    document.size_bytes = len(data)
    meta["version"] = (document.meta or {}).get("version", 1) + 1 if replaced else 1
    document.meta = meta
    document.status = DocumentStatus.QUEUED
    document.error = None
    session.flush()
    content = session.get(DocumentContent, document.id) if replaced else None  # new: none to look up
    if content is None:
        session.add(DocumentContent(document_id=document.id, data=data))
    else:
        content.data = data
    job = enqueue(session, kind=INGEST_JOB, kb_id=kb_id, document_id=document.id, max_attempts=max_attempts)
    session.flush()
    return Accepted(document, job, unchanged=False, replaced=replaced)


MAX_TAGS, MAX_TAG_CHARS = 32, 64


def clean_tags(tags: list[str]) -> list[str]:
    """Trimmed, de-duplicated tags within limits; an error says which limit was broken."""
    out = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
    if len(out) > MAX_TAGS:
        raise InvalidInput(f"{len(out)} tags given; a document can have at most {MAX_TAGS}")
    too_long = [t for t in out if len(t) > MAX_TAG_CHARS]
    if too_long:
        raise InvalidInput(f"tag {too_long[0][:20]!r}… is longer than {MAX_TAG_CHARS} characters")
    return out


def get(session: Session, kb_id: str, document_id: str) -> Document:
    document = session.get(Document, document_id)
    if document is None or document.kb_id != kb_id:
        raise NotFound(f"document {document_id} does not exist in knowledge base {kb_id}")
    return document


def list_for(session: Session, kb_id: str, *, limit: int = 100, offset: int = 0) -> list[Document]:
    return list(
        session.scalars(
            select(Document)
            .where(Document.kb_id == kb_id)
            .order_by(Document.created_at)
            .limit(limit)
            .offset(offset)
        )
    )


def work_in_progress(session: Session, documents: Sequence[Document]) -> dict[str, Job]:
    """The latest job of each document still queued or processing, by document id: one query, so a
    list of a thousand documents shows what each busy one is doing without a query apiece."""
    busy = [d.id for d in documents if d.status in (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)]
    latest: dict[str, Job] = {}
    if busy:
        for job in session.scalars(select(Job).where(Job.document_id.in_(busy)).order_by(Job.created_at)):
            latest[job.document_id or ""] = job  # ordered oldest first: the last one stays
    return latest


def latest_job(session: Session, document_id: str) -> Job | None:
    return session.scalar(
        select(Job).where(Job.document_id == document_id).order_by(Job.created_at.desc()).limit(1)
    )


def delete(
    sessions: sessionmaker[Session], stores: Sequence[VectorStore], kb_id: str, document_id: str
) -> None:
    """Cancel its jobs, delete vectors, delete the row, delete vectors again (closes the race with a
    worker that was mid-upsert; the worker also re-checks that its document still exists).

    ``stores``: every collection that may hold the document's points: its knowledge base's, and any
    other this process has open (an activation may be copying the knowledge base into one)."""
    with sessions.begin() as session:
        get(session, kb_id, document_id)
        session.execute(
            update(Job)
            .where(Job.document_id == document_id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            .values(status=JobStatus.CANCELLED, finished_at=utcnow(), lease_owner=None)
        )
    for vectors in stores:
        vectors.delete_document(kb_id=kb_id, document_id=document_id)
    with sessions.begin() as session:
        document = session.get(Document, document_id)
        if document is not None:
            session.delete(document)
        duplicates.forget(session, kb_id, document_id)
    for vectors in stores:
        vectors.delete_document(kb_id=kb_id, document_id=document_id)
    log.info("document %s deleted from kb %s", document_id, kb_id)


def requeue(session: Session, document: Document, *, max_attempts: int = 3) -> Job:
    """Queue a stored document for ingestion again, from its stored upload. Its points may exist
    already (a repair, an encoder switch): the job reuses the vectors it finds and drops the extras."""
    document.status = DocumentStatus.QUEUED
    document.error = None
    return enqueue(
        session,
        kind=INGEST_JOB,
        kb_id=document.kb_id,
        document_id=document.id,
        payload={"reconcile": True},
        max_attempts=max_attempts,
    )
