"""Source data functions: create, read, change and delete sources; queue their syncs, on request or
on their schedule, never two at once for one source.

Syncing is the worker's (``ingest/sync``); this module only stores what a source is and when it runs.
Deleting a source deletes the documents it brought (and their vectors), not documents that also
belong to another source.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog.documents import clean_tags
from backend.catalog.documents import delete as delete_document
from backend.connectors.base import SourcePolicy
from backend.connectors.registry import connector
from backend.db.engine import rows_changed
from backend.db.models import Document, Job, JobStatus, Source, SourceItem, SourceSync, utcnow
from backend.errors import InvalidInput, NotFound
from backend.jobs.kinds import SYNC_SOURCE_JOB
from backend.jobs.queue import enqueue
from backend.vectorstore.base import VectorStore

log = logging.getLogger(__name__)
MAX_URL_CHARS = 2000
MAX_SETTINGS_CHARS = 20_000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhdw]?)\s*$")
LIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def parse_duration(value: str | int | None, *, what: str) -> int | None:
    """Seconds from ``3600``, ``"90m"``, ``"6h"``, ``"1d"``, ``"2w"``; ``None`` and ``""`` stay None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{what}: give a number of seconds or a duration such as '6h' or '1d'")
    if isinstance(value, int):
        if value < 0:
            raise InvalidInput(f"{what} must not be negative")
        return value
    match = _DURATION.match(value)
    if match is None:
        raise InvalidInput(
            f"{what}: {value[:40]!r} is not a duration; write e.g. 3600, '30m', '6h', '1d' or '1w'"
        )
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def _schedule(value: str | int | None, policy: SourcePolicy) -> int | None:
    seconds = parse_duration(value, what="schedule")
    if seconds is not None and seconds < policy.limits.min_schedule_s:
        raise InvalidInput(
            f"schedule {seconds} s is shorter than the shortest allowed, {policy.limits.min_schedule_s} s "
            "(KBCHAT_SOURCES__MIN_SCHEDULE_S); sync on demand with POST …/sources/{id}/sync"
        )
    return seconds


def _first_due(schedule_s: int | None) -> datetime | None:
    """A new schedule counts from now: the first sync it queues is one interval away."""
    return None if schedule_s is None else utcnow() + timedelta(seconds=schedule_s)


def _validated(kind: str, url: str, settings: dict[str, Any], policy: SourcePolicy) -> dict[str, Any]:
    cls = connector(kind)
    if not url.strip() or len(url) > MAX_URL_CHARS:
        raise InvalidInput(f"url must be 1 to {MAX_URL_CHARS} characters")
    if len(repr(settings)) > MAX_SETTINGS_CHARS:
        raise InvalidInput(f"settings are larger than {MAX_SETTINGS_CHARS:,} characters")
    try:
        model = cls.Settings.model_validate(settings)
    except ValueError as exc:  # pydantic's ValidationError: say which field and why
        raise InvalidInput(f"settings for a {kind} source: {exc}".replace("\n", "; ")) from None
    cls.check(url.strip(), model, policy)
    return model.model_dump(mode="json", exclude_defaults=True)


def create(
    session: Session,
    *,
    kb_id: str,
    kind: str,
    url: str,
    settings: dict[str, Any],
    tags: list[str],
    schedule: str | int | None,
    remove_after: str | int | None,
    policy: SourcePolicy,
) -> Source:
    grace = parse_duration(remove_after, what="remove_after")
    source = Source(
        kb_id=kb_id,
        kind=kind,
        url=url.strip(),
        settings=_validated(kind, url, settings, policy),
        tags=clean_tags(tags),
        schedule_s=_schedule(schedule, policy),
        remove_after_s=policy.limits.remove_after_s if grace is None else grace,
    )
    source.next_sync_at = _first_due(source.schedule_s)
    session.add(source)
    session.flush()
    log.info("source %s (%s %s) added to kb %s", source.id, kind, source.url, kb_id)
    return source


def get(session: Session, kb_id: str, source_id: str) -> Source:
    source = session.get(Source, source_id)
    if source is None or source.kb_id != kb_id:
        raise NotFound(f"source {source_id} does not exist in knowledge base {kb_id}")
    return source


def list_for(session: Session, kb_id: str) -> list[Source]:
    return list(session.scalars(select(Source).where(Source.kb_id == kb_id).order_by(Source.created_at)))


def document_counts(session: Session, source_ids: Sequence[str]) -> dict[str, int]:
    """Documents each source holds now, in one query."""
    if not source_ids:
        return {}
    rows = session.execute(
        select(SourceItem.source_id, func.count(SourceItem.document_id))
        .where(SourceItem.source_id.in_(source_ids))
        .group_by(SourceItem.source_id)
    )
    return {source_id: count for source_id, count in rows}


def update_source(session: Session, source: Source, changes: dict[str, Any], policy: SourcePolicy) -> Source:
    """Apply a PATCH: ``settings`` and ``url`` are validated again; a new schedule counts from now."""
    if "url" in changes or "settings" in changes:
        url = changes.get("url", source.url)
        source.settings = _validated(source.kind, url, changes.get("settings", source.settings), policy)
        source.url = url.strip()
    if "tags" in changes:
        source.tags = clean_tags(changes["tags"] or [])
    if "remove_after" in changes:
        grace = parse_duration(changes["remove_after"], what="remove_after")
        source.remove_after_s = policy.limits.remove_after_s if grace is None else grace
    if "schedule" in changes:
        source.schedule_s = _schedule(changes["schedule"], policy)
        source.next_sync_at = _first_due(source.schedule_s)
    return source


def recent_syncs(session: Session, source_id: str, *, limit: int = 20) -> list[SourceSync]:
    return list(
        session.scalars(
            select(SourceSync)
            .where(SourceSync.source_id == source_id)
            .order_by(SourceSync.started_at.desc())
            .limit(limit)
        )
    )


def request_sync(session: Session, source: Source, *, max_attempts: int) -> tuple[Job, bool]:
    """Queue a sync, unless one is queued or running: then that one. ``(job, queued_now)``.

    Compare-and-set on ``sync_job_id``: of two requests racing, one queues and the other gets its job."""
    current = session.get(Job, source.sync_job_id) if source.sync_job_id else None
    if current is not None and current.status in LIVE:
        return current, False
    job = enqueue(
        session,
        kind=SYNC_SOURCE_JOB,
        kb_id=source.kb_id,
        payload={"source_id": source.id},
        max_attempts=max_attempts,
    )
    with session.no_autoflush:  # the job is inserted only if this request wins; a loser's is never written
        won = rows_changed(
            session.execute(
                update(Source)
                .where(Source.id == source.id)
                .where(
                    Source.sync_job_id.is_(None)
                    if source.sync_job_id is None
                    else Source.sync_job_id == source.sync_job_id
                )
                .values(sync_job_id=job.id)
                .execution_options(synchronize_session=False)
            )
        )
    if not won:
        session.expunge(job)
        session.refresh(source)
        other = session.get(Job, source.sync_job_id) if source.sync_job_id else None
        if other is None:
            raise InvalidInput(f"source {source.id} changed while its sync was being queued; ask again")
        return other, False
    session.refresh(source)
    return job, True


def queue_due(
    session: Session, *, now: datetime | None = None, limit: int = 100, max_attempts: int = 3
) -> list[Job]:
    """Queue the syncs of sources whose time has come. Each source's ``next_sync_at`` is moved on with
    a conditional UPDATE first, so of several worker processes looking at once exactly one queues it."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(Source)
            .where(
                Source.next_sync_at.is_not(None), Source.next_sync_at <= now, Source.schedule_s.is_not(None)
            )
            .order_by(Source.next_sync_at)
            .limit(limit)
        )
    )
    queued = []
    for source in due:
        assert source.schedule_s is not None and source.next_sync_at is not None
        claimed = rows_changed(
            session.execute(
                update(Source)
                .where(and_(Source.id == source.id, Source.next_sync_at == source.next_sync_at))
                .values(next_sync_at=now + timedelta(seconds=source.schedule_s))
                .execution_options(synchronize_session=False)
            )
        )
        if not claimed:
            continue
        session.refresh(source)
        job, new = request_sync(session, source, max_attempts=max_attempts)
        if new:
            log.info("source %s (%s) is due: sync job %s queued", source.id, source.url, job.id)
            queued.append(job)
    return queued


def removable_documents(
    session: Session, source_id: str, key_hashes: Sequence[str] | None = None
) -> list[str]:
    """The documents of these items (every item of the source when None) that deleting takes from no
    one else: the source made them (not an identical upload an item was matched to), and no item
    outside these points at them (another source's, or another of this source's)."""
    leaving = SourceItem.source_id == source_id
    if key_hashes is not None:
        leaving = and_(leaving, SourceItem.key_hash.in_(list(key_hashes)))
    owned = set(
        session.scalars(
            select(SourceItem.document_id).where(
                leaving, SourceItem.owned, SourceItem.document_id.is_not(None)
            )
        )
    )
    if not owned:
        return []
    kept = set(  # one query for all, not one per item
        session.scalars(select(SourceItem.document_id).where(SourceItem.document_id.in_(owned), ~leaving))
    )
    return sorted(d for d in owned - kept if d is not None)


def source_workdir(data_dir: Path, source_id: str) -> Path:
    """A source's own folder (a repository clone): a cache, so each worker host may keep its own."""
    return data_dir / "sources" / source_id


def remove_workdir(data_dir: Path, source_id: str) -> None:
    """Delete a source's folder (its clone), if this host has one."""
    shutil.rmtree(source_workdir(data_dir, source_id), ignore_errors=True)


def delete_source(
    sessions: sessionmaker[Session],
    stores: Sequence[VectorStore],
    kb_id: str,
    source_id: str,
    *,
    data_dir: Path,
) -> int:
    """Cancel its sync, delete the documents it brought (vectors included), then the source with its
    items and history, and its folder. Returns how many documents went."""
    with sessions.begin() as session:
        source = get(session, kb_id, source_id)
        if source.sync_job_id:
            session.execute(
                update(Job)
                .where(Job.id == source.sync_job_id, Job.status.in_(LIVE))
                .values(status=JobStatus.CANCELLED, finished_at=utcnow(), lease_owner=None)
            )
        doomed = removable_documents(session, source_id)
    removed = 0
    for document_id in doomed:
        try:
            delete_document(sessions, stores, kb_id, document_id)
            removed += 1
        except NotFound:  # deleted by hand meanwhile
            continue
    with sessions.begin() as session:
        gone = session.get(Source, source_id)
        if gone is not None:
            session.delete(gone)
    remove_workdir(data_dir, source_id)
    log.info("source %s deleted from kb %s with %d documents", source_id, kb_id, removed)
    return removed


def documents_of(session: Session, source_id: str, *, limit: int, offset: int) -> list[Document]:
    return list(
        session.scalars(
            select(Document)
            .join(SourceItem, SourceItem.document_id == Document.id)
            .where(SourceItem.source_id == source_id)
            .order_by(SourceItem.key)
            .limit(limit)
            .offset(offset)
        )
    )
