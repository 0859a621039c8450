"""The job queue's state machine on real SQLite and PostgreSQL: exclusive claims under concurrency,
lease takeover, bounded retries with backoff, cancellation, and documents that never stay stuck."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from backend.db.engine import make_engine, make_session_factory
from backend.db.migrate import upgrade
from backend.db.models import Document, DocumentStatus, Job, JobStatus, KnowledgeBase, utcnow
from backend.errors import InvalidInput
from backend.jobs.queue import BACKOFF_BASE_S, JobQueue, enqueue
from backend.jobs.worker import JobBatch, JobContext, Worker

pytestmark = pytest.mark.both_databases  # row locking, leases and claims are SQL


@pytest.fixture
def sessions(database_url: str):
    engine = make_engine(database_url)
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _jobs(sessions, n: int, kind: str = "test", max_attempts: int = 3) -> list[str]:
    with sessions.begin() as session:
        jobs = [enqueue(session, kind=kind, payload={"n": i}, max_attempts=max_attempts) for i in range(n)]
        session.flush()
        return [j.id for j in jobs]


def _make_due(sessions, job_id: str) -> None:
    with sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(run_after=utcnow()))


def test_concurrent_claims_are_exclusive(sessions) -> None:
    ids = _jobs(sessions, 40)
    queue = JobQueue(sessions, lease_s=60)
    claimed: list[str] = []
    lock = threading.Lock()

    def claim_all(worker: str) -> None:
        while (job := queue.claim(worker_id=worker, kinds=["test"])) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Counter(claimed) == Counter(ids)  # every job exactly once


def test_only_known_kinds_are_claimed(sessions) -> None:
    _jobs(sessions, 1, kind="finetune")
    assert JobQueue(sessions).claim(worker_id="w", kinds=["ingest"]) is None


class Clock:
    """The queue's "now", moved by hand: a lease expires without waiting for it."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_expired_lease_is_taken_over_and_the_old_owner_cannot_finish(sessions) -> None:
    [job_id] = _jobs(sessions, 1)
    clock = Clock()
    queue = JobQueue(sessions, lease_s=60, clock=clock)
    first = queue.claim(worker_id="a", kinds=["test"])
    assert first is not None and first.attempts == 1
    clock.advance(59)
    assert queue.claim(worker_id="b", kinds=["test"]) is None  # lease still valid
    clock.advance(2)
    second = queue.claim(worker_id="b", kinds=["test"])
    assert second is not None and second.id == job_id and second.attempts == 2
    assert not queue.heartbeat(job_id, worker_id="a")
    assert not queue.complete(job_id, worker_id="a")
    assert queue.complete(job_id, worker_id="b")
    assert queue.get(job_id).status == JobStatus.SUCCEEDED


def test_heartbeat_keeps_the_lease(sessions) -> None:
    [job_id] = _jobs(sessions, 1)
    clock = Clock()
    queue = JobQueue(sessions, lease_s=60, clock=clock)
    queue.claim(worker_id="a", kinds=["test"])
    for _ in range(4):  # four minutes in all, each beat within the lease
        clock.advance(50)
        assert queue.heartbeat(job_id, worker_id="a", stage="embedding", progress=0.5)
    clock.advance(50)
    assert queue.claim(worker_id="b", kinds=["test"]) is None
    job = queue.get(job_id)
    assert (job.stage, job.progress) == ("embedding", 0.5)


def test_retries_back_off_then_fail_the_document(sessions) -> None:
    with sessions.begin() as session:
        kb = KnowledgeBase(name="kb")
        session.add(kb)
        session.flush()
        doc = Document(kb_id=kb.id, title="t", content_type="text/plain", content_hash="h", size_bytes=1)
        session.add(doc)
        session.flush()
        job_id = enqueue(session, kind="test", kb_id=kb.id, document_id=doc.id, max_attempts=2).id
        session.flush()
        doc_id = doc.id
    clock = Clock()  # standing still: the back-off is checked without racing the wall clock
    queue = JobQueue(sessions, clock=clock)
    queue.claim(worker_id="a", kinds=["test"])
    assert queue.fail(job_id, worker_id="a", error="boom 1", retryable=True) == JobStatus.QUEUED
    job = queue.get(job_id)
    assert job.run_after > clock.now + timedelta(seconds=1)  # backing off
    assert queue.claim(worker_id="a", kinds=["test"]) is None
    clock.advance(BACKOFF_BASE_S)
    assert queue.claim(worker_id="a", kinds=["test"]).attempts == 2
    assert queue.fail(job_id, worker_id="a", error="boom 2", retryable=True) == JobStatus.FAILED
    with sessions() as session:
        document = session.get(Document, doc_id)
        assert document.status == DocumentStatus.FAILED and document.error == "boom 2"


def test_a_job_whose_workers_keep_dying_gives_up(sessions) -> None:
    [job_id] = _jobs(sessions, 1, max_attempts=2)
    clock = Clock()
    queue = JobQueue(sessions, lease_s=60, clock=clock)
    for worker in ("a", "b"):
        assert queue.claim(worker_id=worker, kinds=["test"]) is not None
        clock.advance(61)  # the worker "dies": no heartbeat, no result
    assert queue.claim(worker_id="c", kinds=["test"]) is None
    job = queue.get(job_id)
    assert job.status == JobStatus.FAILED and "gave up after 2 attempts" in job.error


def test_cancel_stops_the_running_handler(sessions) -> None:
    [job_id] = _jobs(sessions, 1)
    queue = JobQueue(sessions)
    seen: list[str] = []

    def handler(ctx: JobContext) -> None:
        queue.cancel(ctx.job.id)
        ctx.report("working", 0.5, force=True)  # notices the cancel: raises JobLost
        seen.append("continued")

    Worker(queue, {"test": handler}).run_once()
    assert seen == []
    assert queue.get(job_id).status == JobStatus.CANCELLED


def test_worker_outcomes(sessions) -> None:
    bad, flaky, good = _jobs(sessions, 3)
    queue = JobQueue(sessions)
    calls: Counter[str] = Counter()

    def handler(ctx: JobContext) -> None:
        calls[ctx.job.id] += 1
        if ctx.job.id == bad:
            raise InvalidInput("the document is not valid UTF-8; save it as UTF-8")
        if ctx.job.id == flaky and calls[flaky] == 1:
            raise RuntimeError("vector store hiccup")
        ctx.report("done", 1.0)

    worker = Worker(queue, {"test": handler})
    while worker.run_once():
        pass
    _make_due(sessions, flaky)
    while worker.run_once():
        pass
    assert queue.get(bad).status == JobStatus.FAILED and "UTF-8" in queue.get(bad).error
    assert queue.get(bad).attempts == 1
    assert queue.get(flaky).status == JobStatus.SUCCEEDED and queue.get(flaky).attempts == 2
    assert queue.get(good).status == JobStatus.SUCCEEDED
    assert queue.pending([bad, flaky, good]) == 0


def test_a_batch_handler_gets_many_jobs_and_each_has_its_own_outcome(sessions) -> None:
    bad, flaky, good, other = _jobs(sessions, 4)
    # A clock that stands still: the flaky job's retry (2 s on) never comes due during the test, however
    # slowly the machine runs the first batch (on the wall clock a slow run claimed it again in batch 2).
    queue = JobQueue(sessions, clock=Clock())
    batches: list[list[str]] = []

    class Handler:
        batch_size = 3

        def run_batch(self, batch: JobBatch) -> list[BaseException | None]:
            batches.append([c.job.id for c in batch.contexts])
            batch.report("working", 0.5, force=True)
            for ctx in batch.contexts:
                ctx.result = {"n": ctx.job.payload["n"]}
            outcomes: dict[str, BaseException | None] = {
                bad: InvalidInput("not valid UTF-8"),
                flaky: RuntimeError("vector store hiccup"),
            }
            return [outcomes.get(c.job.id) for c in batch.contexts]

    worker = Worker(queue, {"test": Handler()})
    while worker.run_once():
        pass
    assert batches == [[bad, flaky, good], [other]]
    assert queue.get(bad).status == JobStatus.FAILED and queue.get(bad).error == "not valid UTF-8"
    assert queue.get(flaky).status == JobStatus.QUEUED and "hiccup" in queue.get(flaky).error
    assert queue.get(good).status == JobStatus.SUCCEEDED and queue.get(good).payload["result"] == {"n": 2}


def test_two_jobs_of_one_document_never_run_together(sessions) -> None:
    with sessions.begin() as session:
        kb = KnowledgeBase(name="kb")
        session.add(kb)
        session.flush()
        document = Document(kb_id=kb.id, title="d", content_type="text/plain", content_hash="h", size_bytes=1)
        session.add(document)
        session.flush()
        first = enqueue(session, kind="test", document_id=document.id)
        second = enqueue(session, kind="test", document_id=document.id)
        session.flush()
        ids = (first.id, second.id)
    queue = JobQueue(sessions)
    claimed = queue.claim_batch(worker_id="a", kinds=["test"], limit=10)
    assert len(claimed) == 1 and claimed[0].id in ids
    assert queue.claim(worker_id="b", kinds=["test"]) is None  # the sibling holds a live lease
    assert queue.complete(claimed[0].id, worker_id="a")
    later = queue.claim(worker_id="b", kinds=["test"])
    assert later is not None and {later.id, claimed[0].id} == set(ids)


def test_a_batch_claim_stops_at_its_byte_budget(database_url: str) -> None:
    """Documents' sizes cap what one batch holds in memory; the rest wait for the next claim."""
    from backend.catalog import documents as docs
    from backend.catalog import knowledge_bases as kbs
    from backend.db.engine import make_engine, make_session_factory
    from backend.db.migrate import upgrade
    from backend.jobs.queue import JobQueue

    engine = make_engine(database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        kb_id = kbs.create(session, name="budget").id
        for i in range(5):
            docs.accept_upload(
                session,
                kb_id=kb_id,
                data=f"{i}".encode() * 1000,
                format="text",
                name=f"d{i}",
                max_bytes=10**6,
            )
    queue = JobQueue(sessions)
    first = queue.claim_batch(worker_id="w", kinds=["ingest"], limit=10, max_bytes=2500)
    assert len(first) == 2  # 1000 + 1000 fit in 2500, a third would not
    assert len(queue.claim_batch(worker_id="w", kinds=["ingest"], limit=10)) == 3
    released = queue.release([j.id for j in first], worker_id="w")
    assert released == 2
    again = queue.claim_batch(worker_id="other", kinds=["ingest"], limit=10)
    assert {j.id for j in again} == {j.id for j in first} and all(j.attempts == 1 for j in again)
    engine.dispose()
