"""``kbchat sources …``: add, list, show, sync and remove a knowledge base's sources from a shell.

``add`` and ``sync`` run the sync (and the embedding it queues) in this process with a progress bar,
like ``kbchat ingest``, so they need the data to themselves with the embedded store: stop ``kbchat
serve`` first, or use a Qdrant server. The others only read or write the database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from backend.services import Services

sources_app = typer.Typer(
    help="Sites, sitemaps and repositories a knowledge base stays in sync with.", no_args_is_help=True
)
KbOption = Annotated[str, typer.Option("--kb", help="Knowledge base name.")]


def _settings(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value that reads as JSON (2, true, ["docs"]) is taken as such."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r}: write key=value, e.g. max_depth=2", param_hint="--set")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _kb_id(services: Services, name: str, *, create: bool = False) -> str:
    from backend.catalog import knowledge_bases as kbs
    from backend.errors import NotFound

    with services.sessions.begin() as session:
        try:
            return kbs.get_by_name(session, name).id
        except NotFound:
            if not create:
                raise
            typer.echo(f"created knowledge base {name!r}")
            return kbs.create(session, name=name).id


@contextmanager
def _opened(kb: str, *, create: bool = False) -> Iterator[tuple[Services, str]]:
    """The service's parts for one command, and the knowledge base's id; closed after."""
    from backend.cli.main import services_for_cli

    services = services_for_cli()
    try:
        yield services, _kb_id(services, kb, create=create)
    finally:
        services.close()


def _run(services: Services, job_id: str, kb_id: str) -> dict[str, Any]:
    """Run the sync job, then the ingestion it queued, in this process; the sync's result."""
    from sqlalchemy import func, select

    from backend.db.models import Job, JobStatus

    worker = services.make_worker()

    def waiting() -> int:
        with services.sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.kb_id == kb_id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                )
                or 0
            )

    typer.echo("syncing…")
    while services.queue.pending([job_id]) > 0:
        if not worker.run_once():
            time.sleep(0.2)  # a job is backing off before a retry
    from tqdm import tqdm

    total = waiting()
    with tqdm(total=total, unit="doc", desc="embedding") as bar:
        while (left := waiting()) > 0:
            if not worker.run_once():
                time.sleep(0.2)
            bar.n = max(0, total - left)
            bar.refresh()
    job = services.queue.get(job_id)
    if job.status != JobStatus.SUCCEEDED:
        typer.echo(f"the sync failed: {job.error}", err=True)
        raise typer.Exit(1)
    return (job.payload or {}).get("result") or {}


def _report(result: dict[str, Any]) -> None:
    counts = result.get("counts", {})
    typer.echo(f"{result.get('status')}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for reason in result.get("incomplete", []):
        typer.echo(f"  nothing removed: {reason}")


@sources_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="The page, sitemap, start page or repository URL.")],
    kb: KbOption,
    kind: Annotated[str, typer.Option(help="page, sitemap, crawl, git (or a plugin's).")] = "page",
    schedule: Annotated[
        str | None, typer.Option(help="How often to sync: 30m, 6h, 1d. Empty: on request.")
    ] = None,
    remove_after: Annotated[
        str | None, typer.Option(help="Grace before a vanished page's document goes.")
    ] = None,
    set_: Annotated[list[str], typer.Option("--set", help="A connector setting, key=value.")] = [],  # noqa: B006
    tag: Annotated[list[str], typer.Option(help="A tag for every document.")] = [],  # noqa: B006
    sync: Annotated[bool, typer.Option(help="Sync now, in this process.")] = True,
) -> None:
    """Add a source to a knowledge base (created if missing) and sync it."""
    from backend.catalog import sources

    settings = _settings(set_)  # a malformed --set fails before anything is opened
    with _opened(kb, create=True) as (services, kb_id):
        with services.sessions.begin() as session:
            source = sources.create(
                session,
                kb_id=kb_id,
                kind=kind,
                url=url,
                settings=settings,
                tags=tag,
                schedule=schedule,
                remove_after=remove_after,
                policy=services.source_policy(),
            )
            source_id = source.id
            attempts = services.settings.ingest.max_attempts
            job_id = sources.request_sync(session, source, max_attempts=attempts)[0].id if sync else None
        typer.echo(f"source {source_id} added")
        if job_id:
            _report(_run(services, job_id, kb_id))


@sources_app.command("sync")
def sync_now(source_id: str, kb: KbOption) -> None:
    """Sync a source now, in this process, and wait until its pages are searchable."""
    from backend.catalog import sources

    with _opened(kb) as (services, kb_id):
        with services.sessions.begin() as session:
            source = sources.get(session, kb_id, source_id)
            job_id = sources.request_sync(
                session, source, max_attempts=services.settings.ingest.max_attempts
            )[0].id
        _report(_run(services, job_id, kb_id))


@sources_app.command("list")
def list_sources(kb: KbOption) -> None:
    """The knowledge base's sources: id, kind, URL, schedule, last status and counts."""
    from backend.catalog import sources

    with _opened(kb) as (services, kb_id), services.sessions() as session:
        found = sources.list_for(session, kb_id)
        counts = sources.document_counts(session, [s.id for s in found])
        for s in found:
            every = f"every {s.schedule_s}s" if s.schedule_s else "on request"
            typer.echo(
                f"{s.id}  {s.kind:8} {s.url}  {every}  {s.last_status}  {counts.get(s.id, 0)} documents"
            )


@sources_app.command("show")
def show(source_id: str, kb: KbOption) -> None:
    """A source and its latest syncs (counts, failed items with reasons), as JSON."""
    from backend.catalog import sources

    with _opened(kb) as (services, kb_id), services.sessions() as session:
        out = _columns(sources.get(session, kb_id, source_id))
        out["syncs"] = [_columns(s) for s in sources.recent_syncs(session, source_id)]
    typer.echo(json.dumps(out, indent=2, default=str))


def _columns(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


@sources_app.command("remove")
def remove(source_id: str, kb: KbOption) -> None:
    """Delete a source and the documents it brought (their vectors too)."""
    from backend.catalog import sources

    with _opened(kb) as (services, kb_id):
        stores = services.encoders.stores_of(kb_id)
        removed = sources.delete_source(
            services.sessions, stores, kb_id, source_id, data_dir=services.settings.data_dir
        )
    typer.echo(f"source {source_id} removed with {removed} documents")
