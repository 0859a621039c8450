"""The durable job queue: jobs are database rows, claimed under a lease.

State machine::

    queued ──claim──▶ running ──complete──▶ succeeded
      ▲                 │  │
      │    fail (retry) │  └──fail (attempts used up)──▶ failed
      └─────────────────┘
    queued/running ──cancel──▶ cancelled       running + lease expired ──claim──▶ running (taken over)

Claiming is safe with many workers: PostgreSQL locks the candidate row with
``FOR UPDATE SKIP LOCKED`` so workers never wait on each other; SQLite serialises writers with
``BEGIN IMMEDIATE`` (see backend/db/engine.py). Either way the claim is one short transaction.
Every state change checks the lease owner, so a worker whose lease was taken over cannot overwrite
its successor's result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from backend.db.models import Document, DocumentStatus, Job, JobStatus, new_id, utcnow
from backend.errors import NotFound

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 300.0


def enqueue(
    session: Session,
    *,
    kind: str,
    kb_id: str | None = None,
    document_id: str | None = None,
    payload: dict[str, Any] | None = None,
    max_attempts: int = 3,
    run_after: datetime | None = None,
) -> Job:
    """Add a job to ``session`` (the caller commits, so a job is created with what it works on);
    ``run_after``: not before then (a delayed clean-up)."""
    job = Job(
        run_after=run_after or utcnow(),
        id=new_id(),  # known before the flush, so callers can return it at once
        kind=kind,
        kb_id=kb_id,
        document_id=document_id,
        payload=payload or {},
        max_attempts=max_attempts,
    )
    session.add(job)
    return job


def _fail_document(session: Session, job: Job) -> None:
    """A job that fails for good fails its document too, so nothing is ever shown as stuck."""
    if job.document_id is not None:
        document = session.get(Document, job.document_id)
        if document is not None and document.status != DocumentStatus.READY:
            document.status = DocumentStatus.FAILED
            document.error = job.error


class JobQueue:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        lease_s: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        reads: sessionmaker[Session] | None = None,
    ) -> None:
        """``clock``: what "now" is for leases and back-off (tests pass one they move by hand, so an
        expired lease takes no waiting). ``reads``: sessions that take no lock (SQLite's read-only
        engine), for the look before each claim; default ``sessions``."""
        self.sessions = sessions
        self.reads = reads or sessions
        self.lease = timedelta(seconds=lease_s)
        self.clock = clock

    def claim(self, *, worker_id: str, kinds: Collection[str]) -> Job | None:
        """Take the oldest runnable job of ``kinds``: queued and due, or running with an expired lease.

        Jobs on one document never run at the same time: a job waits while another job of its
        document holds a live lease (a re-upload arriving while the previous version is ingested).
        """
        jobs = self.claim_batch(worker_id=worker_id, kinds=kinds, limit=1)
        return jobs[0] if jobs else None

    def claim_batch(
        self, *, worker_id: str, kinds: Collection[str], limit: int, max_bytes: int | None = None
    ) -> list[Job]:
        """Up to ``limit`` runnable jobs in one transaction (see :meth:`claim`): batch handlers fill
        one embedding batch from many small documents and pay the database round trips once.
        ``max_bytes`` caps the sum of their documents' sizes."""
        now = self.clock()
        due = and_(
            Job.kind.in_(list(kinds)),
            or_(
                (Job.status == JobStatus.QUEUED) & (Job.run_after <= now),
                (Job.status == JobStatus.RUNNING) & (Job.lease_expires_at < now),
            ),
        )
        # A look first, without a lock: the claim's transaction takes SQLite's write lock (BEGIN
        # IMMEDIATE), and an idle process's workers (five by default) polled it every second for
        # nothing, 4 % of a core (docs/benchmarks.md). A job that becomes due meanwhile waits one poll.
        with self.reads() as session:
            if session.execute(select(Job.id).where(due).limit(1)).first() is None:
                return []
        sibling = aliased(Job)
        busy_document = exists().where(
            sibling.document_id == Job.document_id,
            sibling.id != Job.id,
            sibling.status == JobStatus.RUNNING,
            sibling.lease_expires_at >= now,
        )
        runnable = and_(due, or_(Job.document_id.is_(None), ~busy_document))
        # Fair across knowledge bases: every knowledge base's oldest job comes before any one's
        # second, so a tenant's one small document waits at most one batch behind another tenant's
        # thousand. (Ranked first, then locked by id: PostgreSQL allows no FOR UPDATE beside a window.)
        turn = (
            func.row_number()
            .over(partition_by=func.coalesce(Job.kb_id, ""), order_by=(Job.run_after, Job.created_at))
            .label("turn")
        )
        ranked = select(Job.id, turn, Job.run_after, Job.created_at).where(runnable).subquery()
        claimed: list[Job] = []
        with self.sessions.begin() as session:
            order = (
                session.execute(
                    select(ranked.c.id)
                    .order_by(ranked.c.turn, ranked.c.run_after, ranked.c.created_at)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            position = {job_id: i for i, job_id in enumerate(order)}
            candidates = sorted(
                session.scalars(
                    select(Job).where(Job.id.in_(order), runnable).with_for_update(skip_locked=True)
                ).all(),
                key=lambda job: position[job.id],
            )
            sizes: dict[str, int] = {}
            if max_bytes is not None:
                ids = [c.document_id for c in candidates if c.document_id is not None]
                sizes = dict(
                    session.execute(
                        select(Document.id, Document.size_bytes).where(Document.id.in_(ids))
                    ).all()
                )
            documents: set[str] = set()
            taken_bytes = 0
            for candidate in candidates:
                if candidate.document_id is not None:
                    if candidate.document_id in documents:
                        continue  # two queued jobs of one document: the later one waits
                    size = sizes.get(candidate.document_id, 0)
                    if max_bytes is not None and taken_bytes + size > max_bytes:
                        break  # the batch is full; the rest stay queued for the next claim
                    taken_bytes += size
                    documents.add(candidate.document_id)
                if candidate.status == JobStatus.RUNNING:
                    log.warning(
                        "job %s (%s): lease of %s expired at %s; taking it over",
                        candidate.id,
                        candidate.kind,
                        candidate.lease_owner,
                        candidate.lease_expires_at,
                    )
                if candidate.attempts >= candidate.max_attempts:
                    # Its workers keep dying (out of memory, killed): stop retrying and say so.
                    candidate.status = JobStatus.FAILED
                    candidate.finished_at = now
                    candidate.lease_owner = None
                    candidate.error = (
                        f"gave up after {candidate.attempts} attempts: the worker stopped responding each "
                        f"time (last error: {candidate.error or 'none recorded'}). "
                        "The input may be too large."
                    )
                    _fail_document(session, candidate)
                    continue
                candidate.status = JobStatus.RUNNING
                candidate.attempts += 1
                candidate.lease_owner = worker_id
                candidate.lease_expires_at = now + self.lease
                candidate.started_at = candidate.started_at or now
                claimed.append(candidate)
        return claimed

    def document_bytes(self, job: Job) -> int:
        """The size of the upload a job works on (0 for jobs on no document)."""
        if job.document_id is None:
            return 0
        with self.sessions() as session:
            return session.scalar(select(Document.size_bytes).where(Document.id == job.document_id)) or 0

    def heartbeat_many(
        self,
        job_ids: Collection[str],
        *,
        worker_id: str,
        stage: str | None = None,
        progress: float | None = None,
    ) -> set[str]:
        """Extend several leases in one statement; returns the ids still held by ``worker_id``."""
        values: dict[str, Any] = {"lease_expires_at": self.clock() + self.lease}
        if stage is not None:
            values["stage"] = stage
        if progress is not None:
            values["progress"] = max(0.0, min(1.0, progress))
        with self.sessions.begin() as session:
            rows = session.execute(
                update(Job)
                .where(
                    Job.id.in_(list(job_ids)), Job.lease_owner == worker_id, Job.status == JobStatus.RUNNING
                )
                .values(**values)
                .returning(Job.id)
            )
            return {row[0] for row in rows}

    def heartbeat(
        self, job_id: str, *, worker_id: str, stage: str | None = None, progress: float | None = None
    ) -> bool:
        """Extend the lease (and record progress). False: the job is no longer ours; stop working on it."""
        return bool(self.heartbeat_many([job_id], worker_id=worker_id, stage=stage, progress=progress))

    def complete(self, job_id: str, *, worker_id: str, result: dict[str, Any] | None = None) -> bool:
        return bool(self.complete_many({job_id: result}, worker_id=worker_id))

    def complete_many(self, results: dict[str, dict[str, Any] | None], *, worker_id: str) -> set[str]:
        """Mark several jobs succeeded in one transaction; returns the ids that were still ours."""
        done: set[str] = set()
        now = self.clock()
        with self.sessions.begin() as session:
            for job in session.scalars(select(Job).where(Job.id.in_(list(results))).with_for_update()):
                if job.lease_owner != worker_id or job.status != JobStatus.RUNNING:
                    continue
                if results[job.id] is not None:
                    job.payload = {**(job.payload or {}), "result": results[job.id]}
                job.status = JobStatus.SUCCEEDED
                job.progress, job.stage, job.finished_at = 1.0, "done", now
                job.lease_owner, job.lease_expires_at, job.error = None, None, None
                done.add(job.id)
        return done

    def release(self, job_ids: Collection[str], *, worker_id: str) -> int:
        """Give claimed, unstarted jobs back (a stopping worker's batch claimed ahead): queued again
        at once, the attempt not counted, their documents shown as queued. Returns how many."""
        with self.sessions.begin() as session:
            jobs = session.scalars(
                select(Job)
                .where(
                    Job.id.in_(list(job_ids)), Job.lease_owner == worker_id, Job.status == JobStatus.RUNNING
                )
                .with_for_update()
            ).all()
            for job in jobs:
                job.status, job.lease_owner, job.lease_expires_at = JobStatus.QUEUED, None, None
                job.attempts = max(0, job.attempts - 1)
                job.run_after = self.clock()
                if job.document_id is not None:
                    session.execute(
                        update(Document)
                        .where(Document.id == job.document_id, Document.status == DocumentStatus.PROCESSING)
                        .values(status=DocumentStatus.QUEUED)
                    )
            return len(jobs)

    def fail(self, job_id: str, *, worker_id: str, error: str, retryable: bool) -> JobStatus | None:
        """Record a failure: back to ``queued`` with exponential backoff, or ``failed`` for good."""
        with self.sessions.begin() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None or job.lease_owner != worker_id or job.status != JobStatus.RUNNING:
                return None
            job.error = error[:4000]
            job.lease_owner = None
            job.lease_expires_at = None
            if retryable and job.attempts < job.max_attempts:
                delay = min(BACKOFF_BASE_S * 2 ** (job.attempts - 1), BACKOFF_MAX_S)
                job.status = JobStatus.QUEUED
                job.run_after = self.clock() + timedelta(seconds=delay)
                log.warning(
                    "job %s attempt %d failed, retrying in %.0fs: %s", job_id, job.attempts, delay, error
                )
            else:
                job.status = JobStatus.FAILED
                job.finished_at = self.clock()
                _fail_document(session, job)
                log.error("job %s failed after %d attempt(s): %s", job_id, job.attempts, error)
            return job.status

    def cancel(self, job_id: str) -> Job:
        with self.sessions.begin() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None:
                raise NotFound(f"job {job_id} does not exist")
            if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                job.status = JobStatus.CANCELLED
                job.finished_at = self.clock()
                job.lease_owner = None
            return job

    def get(self, job_id: str) -> Job:
        with self.sessions() as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFound(
                    f"job {job_id} does not exist; job ids are returned when documents are uploaded"
                )
            return job

    def pending(self, job_ids: Collection[str]) -> int:
        with self.sessions() as session:
            return len(
                session.scalars(
                    select(Job.id).where(
                        Job.id.in_(list(job_ids)), Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
                    )
                ).all()
            )
