"""``kbchat doctor``: does the database agree with the vector store, and is any work stuck?

The database is the source of truth: a document row says what should be searchable. Crashes leave
three kinds of disagreement, each repaired from that truth:

- **orphaned vectors**: points whose document (or knowledge base) is gone, or whose document failed
  → the points are deleted;
- **missing vectors**: a ready document whose point count differs from its ``chunk_count``
  → the document is queued for ingestion again (the stored upload is re-ingested, reusing vectors);
- **stuck documents**: queued or processing with no live job to finish them → re-queued;
- **stale vectors**: points of a knowledge base in a collection other than its encoder's (an
  activation that crashed before its sweep) → deleted, unless an activation or sweep is pending.

One more finding is work left undone rather than damage, so it does not make the store unhealthy:
**chunks without sentence vectors** (stored before the worker encoded them, with the setting off, or by
an older sentence splitter; backend/retrieval/stored_sentences.py). Searches encode those sentences when
they meet them, at a second or so for 20 new passages on two CPU cores; the repair re-ingests their
documents, which reuses every stored chunk vector and encodes only the missing sentences.

Running jobs with an expired lease are reported; any worker takes them over by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog.documents import requeue
from backend.db.models import Document, DocumentStatus, Job, JobStatus, utcnow
from backend.jobs.kinds import ACTIVATE_JOB, INGEST_JOB, SWEEP_JOB
from backend.retrieval.stored_sentences import current
from backend.vectorstore.base import VectorStore

log = logging.getLogger(__name__)


@dataclass
class Diagnosis:
    orphaned: dict[str, int] = field(default_factory=dict)
    """``kb_id/document_id`` → stray point count."""
    missing: dict[str, tuple[int, int]] = field(default_factory=dict)
    """document id → (expected chunks, stored points)."""
    stuck: list[str] = field(default_factory=list)
    """Document ids queued/processing without a live job."""
    expired_jobs: list[str] = field(default_factory=list)
    stale: dict[str, int] = field(default_factory=dict)
    """``collection/kb_id`` → points of a knowledge base outside its encoder's collection."""
    unsentenced: dict[str, int] = field(default_factory=dict)
    """Ready document id → its chunks without their encoder's sentence vectors (not damage: searches
    encode those sentences themselves)."""

    @property
    def healthy(self) -> bool:
        return not (self.orphaned or self.missing or self.stuck or self.stale)

    @property
    def complete(self) -> bool:
        """Healthy, and every chunk carries its sentence vectors: nothing for ``--fix`` to do."""
        return self.healthy and not self.unsentenced

    def as_dict(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "orphaned_vectors": self.orphaned,
            "missing_vectors": {k: {"expected": e, "stored": s} for k, (e, s) in self.missing.items()},
            "stuck_documents": self.stuck,
            "stale_vectors": self.stale,
            "expired_jobs": self.expired_jobs,
            "documents_without_sentence_vectors": self.unsentenced,
        }


def diagnose(
    sessions: sessionmaker[Session],
    stores: Sequence[VectorStore],
    home: Callable[[str], str],
    sentence_models: Mapping[str, str] | None = None,
) -> Diagnosis:
    """``stores``: every collection to check; ``home``: knowledge base → its encoder's collection;
    ``sentence_models``: collection → the model id its chunks' sentence vectors must carry, to look for
    chunks without them (None: do not look, as when the worker stores none)."""
    # Read the stores first: a document created after this scan cannot be mistaken for an orphan's
    # owner missing, and one deleted after it is caught by the next run.
    stored: dict[tuple[str, str], int] = {}
    elsewhere: dict[str, int] = {}
    for vectors in stores:
        for (kb_id, document_id), count in vectors.inventory().items():
            if home(kb_id) == vectors.collection:
                stored[kb_id, document_id] = count
            else:
                key = f"{vectors.collection}/{kb_id}"
                elsewhere[key] = elsewhere.get(key, 0) + count
    unsentenced: dict[tuple[str, str], int] = {}
    for vectors in stores:
        model_id = (sentence_models or {}).get(vectors.collection)
        if model_id is not None:
            found = vectors.unsentenced(partial(current, model_id=model_id))
            unsentenced.update({key: n for key, n in found.items() if home(key[0]) == vectors.collection})
    now = utcnow()
    diagnosis = Diagnosis()
    with sessions() as session:
        moving = {
            job.kb_id or job.payload.get("kb_id")
            for job in session.scalars(
                select(Job).where(
                    Job.kind.in_([ACTIVATE_JOB, SWEEP_JOB]),
                    Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
                )
            )
        }
        if None in moving:  # an activation for every knowledge base: all may be between collections
            elsewhere.clear()
        diagnosis.stale = {k: n for k, n in elsewhere.items() if k.split("/", 1)[1] not in moving}
        documents = {d.id: d for d in session.scalars(select(Document).execution_options(yield_per=1000))}
        live_jobs = {
            job.document_id
            for job in session.scalars(
                select(Job).where(
                    Job.kind == INGEST_JOB, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
                )
            )
        }
        diagnosis.expired_jobs = list(
            session.scalars(select(Job.id).where(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now))
        )
        for (kb_id, document_id), count in stored.items():
            document = documents.get(document_id)
            if document is None or document.kb_id != kb_id or document.status == DocumentStatus.FAILED:
                diagnosis.orphaned[f"{kb_id}/{document_id}"] = count
        for document in documents.values():
            if document.status == DocumentStatus.READY:
                count = stored.get((document.kb_id, document.id), 0)
                if count != document.chunk_count:
                    diagnosis.missing[document.id] = (document.chunk_count, count)
                elif (
                    without := unsentenced.get((document.kb_id, document.id))
                ) and document.id not in live_jobs:
                    diagnosis.unsentenced[document.id] = without
            elif (
                document.status in (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)
                and document.id not in live_jobs
            ):
                diagnosis.stuck.append(document.id)
    return diagnosis


def repair(
    sessions: sessionmaker[Session],
    stores: Sequence[VectorStore],
    home: Callable[[str], str],
    diagnosis: Diagnosis,
    *,
    max_attempts: int = 3,
) -> dict[str, int]:
    """Fix what :func:`diagnose` found; returns how many of each were repaired."""
    by_collection = {vectors.collection: vectors for vectors in stores}
    for key in diagnosis.orphaned:
        kb_id, document_id = key.split("/", 1)
        by_collection[home(kb_id)].delete_document(kb_id=kb_id, document_id=document_id)
        log.info("doctor: deleted %d orphaned vectors of %s", diagnosis.orphaned[key], key)
    for key, count in diagnosis.stale.items():
        collection, kb_id = key.split("/", 1)
        by_collection[collection].delete_knowledge_base(kb_id=kb_id)
        log.info("doctor: deleted %d stale vectors of knowledge base %s in %s", count, kb_id, collection)
    requeued = sentenced = 0
    with sessions.begin() as session:
        for document_id in [*diagnosis.missing, *diagnosis.stuck, *diagnosis.unsentenced]:
            document = session.get(Document, document_id)
            if document is None:
                continue
            requeue(session, document, max_attempts=max_attempts)
            if document_id in diagnosis.unsentenced:
                sentenced += 1
                log.info(
                    "doctor: document %s queued to add the sentence vectors of %d chunks",
                    document_id,
                    diagnosis.unsentenced[document_id],
                )
            else:
                requeued += 1
                log.info("doctor: document %s queued for ingestion again", document_id)
    return {
        "orphaned_deleted": len(diagnosis.orphaned),
        "stale_deleted": len(diagnosis.stale),
        "documents_requeued": requeued,
        "documents_requeued_for_sentence_vectors": sentenced,
    }
