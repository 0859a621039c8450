"""An idle worker's poll on SQLite: it looks for due jobs through the read-only engine, so it neither
takes nor waits for the database's write lock (five idle workers poll every second; each claim's
transaction took that lock with BEGIN IMMEDIATE and queued behind every upload's write)."""

from __future__ import annotations

import threading

from sqlalchemy import update

from backend.db.engine import make_engine, make_session_factory
from backend.db.migrate import upgrade
from backend.db.models import KnowledgeBase
from backend.jobs.queue import JobQueue, enqueue


def test_an_idle_poll_neither_takes_nor_waits_for_the_write_lock(database_url: str) -> None:
    engine, reader = make_engine(database_url), make_engine(database_url, readonly=True)
    upgrade(engine)
    sessions = make_session_factory(engine)
    queue = JobQueue(sessions, lease_s=60, reads=make_session_factory(reader))
    polled: list[list] = []

    def poll() -> None:
        polled.append(queue.claim_batch(worker_id="w", kinds=["test"], limit=8))

    with sessions.begin() as writer:  # another writer holds SQLite's write lock meanwhile
        writer.execute(update(KnowledgeBase).values(description="being written"))
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        poller.join(timeout=10)
        assert polled == [[]], "an idle poll waited for another transaction's write lock"

    with sessions.begin() as session:  # with work queued, the claim itself runs as before
        job_id = enqueue(session, kind="test", payload={}).id
    assert [j.id for j in queue.claim_batch(worker_id="w", kinds=["test"], limit=8)] == [job_id]
    reader.dispose()
    engine.dispose()
