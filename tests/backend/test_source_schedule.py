"""Source schedules on real SQLite and PostgreSQL: a due source is queued by exactly one of several
processes looking at once, a source never has two syncs queued, and a finished (or crashed) sync
never blocks the next."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from backend.catalog import sources
from backend.connectors.base import SourcePolicy
from backend.connectors.config import SourcesSettings
from backend.db.engine import make_engine, make_session_factory
from backend.db.migrate import upgrade
from backend.db.models import Job, JobStatus, KnowledgeBase, Source, utcnow
from backend.errors import InvalidInput
from backend.jobs.kinds import SYNC_SOURCE_JOB

pytestmark = pytest.mark.both_databases  # conditional updates are the claim


@pytest.fixture
def sessions(database_url: str):
    engine = make_engine(database_url)
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _source(sessions, schedule: str | None = "1h") -> str:
    policy = SourcePolicy(("127.0.0.1/32",), SourcesSettings(min_schedule_s=60))
    with sessions.begin() as session:
        kb = KnowledgeBase(name="kb")
        session.add(kb)
        session.flush()
        source = sources.create(
            session,
            kb_id=kb.id,
            kind="page",
            url="http://127.0.0.1:9/faq.html",
            settings={},
            tags=[],
            schedule=schedule,
            remove_after=None,
            policy=policy,
        )
        return source.id


def _sync_jobs(sessions) -> list[Job]:
    with sessions() as session:
        return list(session.scalars(select(Job).where(Job.kind == SYNC_SOURCE_JOB)))


def test_a_due_source_is_queued_once_by_racing_schedulers(sessions) -> None:
    source_id = _source(sessions)
    with sessions.begin() as session:
        assert sources.queue_due(session) == []  # not due for an hour
        session.execute(
            update(Source).where(Source.id == source_id).values(next_sync_at=utcnow() - timedelta(1))
        )
    queued: list[int] = []
    barrier = threading.Barrier(4)

    def scheduler() -> None:
        barrier.wait()
        with sessions.begin() as session:
            queued.append(len(sources.queue_due(session)))

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(queued) == [0, 0, 0, 1]
    assert len(_sync_jobs(sessions)) == 1
    with sessions() as session:
        source = session.get(Source, source_id)
        assert source.next_sync_at > utcnow() + timedelta(minutes=59)  # moved on by its schedule


def test_one_sync_at_a_time_and_a_finished_one_never_blocks(sessions) -> None:
    source_id = _source(sessions, schedule=None)
    with sessions.begin() as session:
        source = session.get(Source, source_id)
        first, new = sources.request_sync(session, source, max_attempts=1)
        assert new
        again, new = sources.request_sync(session, source, max_attempts=1)
        assert (again.id, new) == (first.id, False)
        session.execute(update(Job).where(Job.id == first.id).values(status=JobStatus.FAILED))
    with sessions.begin() as session:
        source = session.get(Source, source_id)
        second, new = sources.request_sync(session, source, max_attempts=1)
        assert new and second.id != first.id
    assert len(_sync_jobs(sessions)) == 2


def test_durations_are_parsed_or_refused() -> None:
    assert [sources.parse_duration(v, what="x") for v in (None, "", 90, "90", "15m", "6h", "1d", "2w")] == [
        None,
        None,
        90,
        90,
        900,
        21_600,
        86_400,
        1_209_600,
    ]
    for bad in ("soon", "-5", "1y", "1.5h", True):
        with pytest.raises(InvalidInput):
            sources.parse_duration(bad, what="schedule")  # type: ignore[arg-type]


def test_a_request_that_loses_the_race_writes_no_job(sessions) -> None:
    source_id = _source(sessions, schedule=None)
    with sessions.begin() as session:
        stale = session.get(Source, source_id)  # read before the other request queues its sync
    with sessions.begin() as session:
        first, _ = sources.request_sync(session, session.get(Source, source_id), max_attempts=1)
        first_id = first.id
    with sessions.begin() as session:
        seen = session.merge(stale, load=False)  # still believes no sync was ever queued
        job, new = sources.request_sync(session, seen, max_attempts=1)
        assert (job.id, new) == (first_id, False)
    assert [j.id for j in _sync_jobs(sessions)] == [first_id]
