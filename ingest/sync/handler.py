"""The "sync_source" job: load the source, run its connector through a :class:`SyncRun`, record it.

A sync whose listing failed (the sitemap or repository could not be read) removes nothing; a transient
failure (5xx, timeout, network) fails the job so the queue tries it again with back-off, a permanent
one (a refused address, a repository no longer allowed) fails it for good with the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import update

from backend.catalog.sources import source_workdir
from backend.catalog.urls import UrlPolicy
from backend.connectors.base import Content, Failed, FetchFailed, Outcome, Previous, Unchanged
from backend.connectors.config import SourcesSettings
from backend.connectors.registry import connector
from backend.db.models import Source, SourceSync, utcnow
from backend.errors import InvalidInput
from backend.jobs.worker import JobContext, JobHandler
from backend.plugins import PluginHost
from ingest.sync.engine import SyncRun, Target
from ingest.sync.state import ItemRow, load_items
from ingest.web.fetch import FetchError, SafeFetcher, make_client
from ingest.web.polite import PoliteHttp

log = logging.getLogger(__name__)


@dataclass
class Context:
    """The SyncContext a connector gets (backend.connectors.base.SyncContext)."""

    url: str
    settings: BaseModel
    limits: SourcesSettings
    http: PoliteHttp
    workdir: Path
    max_bytes: int
    items: dict[str, ItemRow]
    job: JobContext
    reasons: list[str] = field(default_factory=list)

    def previous(self, key: str) -> Previous | None:
        row = self.items.get(key)
        return row.previous() if row is not None else None

    def incomplete(self, reason: str) -> None:
        if reason not in self.reasons:
            log.warning("source listing incomplete, nothing will be removed: %s", reason)
            self.reasons.append(reason)

    def progress(self, done: int, total: int | None = None) -> None:
        self.job.report("syncing", done / total if total else None)


def make_sync_handler(services: PluginHost) -> JobHandler:
    config = services.settings
    policy = UrlPolicy(config.ingest.url_allowlist)
    client = make_client(config.ingest.url_timeout_s)  # shared by every sync: connections kept alive
    services.closers.append(client.close)

    def handle(ctx: JobContext) -> None:
        source_id = ctx.job.payload["source_id"]
        with services.sessions.begin() as session:
            source = session.get(Source, source_id)
            if source is None or source.sync_job_id != ctx.job.id:
                ctx.result = {
                    "skipped": "the source was deleted" if source is None else "a newer sync superseded it"
                }
                return
            session.execute(  # an attempt that crashed left its history row open
                update(SourceSync)
                .where(SourceSync.source_id == source_id, SourceSync.status == "running")
                .values(status="failed", finished_at=utcnow(), errors=[{"key": "", "error": "interrupted"}])
            )
            record = SourceSync(source_id=source_id, job_id=ctx.job.id)
            session.add(record)
            source.last_status = "running"
            session.flush()
            kind, url, settings, sync_id = source.kind, source.url, dict(source.settings), record.id
            target = Target(
                source_id,
                source.kb_id,
                list(source.tags or []),
                source.remove_after_s,
                config.ingest.max_upload_bytes,
                config.ingest.max_attempts,
            )
            items = load_items(session, source_id)
        fetcher = SafeFetcher(
            policy,
            max_bytes=config.ingest.url_max_bytes,
            timeout_s=config.ingest.url_timeout_s,
            client=client,
        )
        http = PoliteHttp(fetcher, config.sources)
        run = SyncRun(target, services.sessions, items, services.wake_workers)
        reasons: list[str] = []
        started = time.perf_counter()
        status, error = "failed", None
        try:
            cls = connector(kind)  # inside: a plugin uninstalled since is this sync's failure, recorded
            try:
                validated = cls.Settings.model_validate(settings)
            except ValueError as exc:
                raise InvalidInput(f"the source's settings no longer fit its connector: {exc}") from None
            workdir = source_workdir(config.data_dir, source_id)
            workdir.mkdir(parents=True, exist_ok=True)
            sync = Context(
                url,
                validated,
                config.sources,
                http,
                workdir,
                config.ingest.max_upload_bytes,
                items,
                ctx,
                reasons,
            )
            ctx.report("listing", 0.0, force=True)
            for outcome in _outcomes(cls().sync(sync)):
                run.apply(outcome)
            run.flush()
            if sync.reasons:
                log.warning(
                    "source %s: %d items not removed (listing incomplete)", source_id, len(sync.reasons)
                )
            else:
                run.settle_missing(services.encoders.stores_of(target.kb_id))
            status = "partial" if run.counts["failed"] or sync.reasons else "ok"
            error = next(iter([*sync.reasons, *(e["error"] for e in run.errors)]), None)
        except FetchFailed as exc:
            error = exc.message
            if exc.transient:
                raise FetchError(exc.message) from None  # retried with back-off by the queue
            raise InvalidInput(exc.message) from None
        except Exception as exc:
            error = str(exc)[:2000] or type(exc).__name__
            raise
        finally:
            run.flush()
            fetcher.close()
            counts = {**run.counts, "requests": http.requests}
            _finish(services, source_id, sync_id, status, counts, run.errors, error)
            services.telemetry.synced(kind, status, counts)
            ctx.result = {"sync_id": sync_id, "status": status, "counts": counts, "incomplete": reasons}
            log.info(
                "source %s (%s %s) synced: %s in %.1fs, %s",
                source_id,
                kind,
                url,
                status,
                time.perf_counter() - started,
                ", ".join(f"{k} {v}" for k, v in counts.items() if v),
            )
        services.wake_workers()

    return handle


def _outcomes(stream: Iterator[object]) -> Iterator[Outcome]:
    """The connector's outcomes; a plugin that yields anything else is a bug in it, said plainly."""
    for outcome in stream:
        if not isinstance(outcome, (Content, Unchanged, Failed)):
            raise TypeError(
                f"a connector yielded {type(outcome).__name__}; expected Content, Unchanged or Failed"
            )
        yield outcome


def _finish(
    services: PluginHost,
    source_id: str,
    sync_id: str,
    status: str,
    counts: dict[str, int],
    errors: list[dict[str, Any]],
    error: str | None,
) -> None:
    with services.sessions.begin() as session:
        record = session.get(SourceSync, sync_id)
        if record is not None:
            record.status, record.counts, record.errors, record.finished_at = status, counts, errors, utcnow()
        source = session.get(Source, source_id)
        if source is not None:
            source.last_status, source.last_counts, source.last_error = status, counts, error
            source.last_sync_at = utcnow()
