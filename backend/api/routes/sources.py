"""/v1/knowledge-bases/{kb_id}/sources: the sites, sitemaps and repositories a knowledge base stays in
sync with — add, list, read (status, counts, history, documents), change, sync now, delete; and
/v1/connectors: the kinds of source this installation can sync, with their settings' JSON schema."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from backend.api.deps import ServicesDep, SessionDep
from backend.api.schemas import DocumentPublic, DocumentsPublic, JobPublic
from backend.api.source_schemas import (
    ConnectorPublic,
    ConnectorsPublic,
    SourceCreate,
    SourceCreated,
    SourcePublic,
    SourcesPublic,
    SourceUpdate,
    SyncPublic,
    SyncQueued,
    SyncsPublic,
)
from backend.catalog import knowledge_bases as kbs
from backend.catalog import sources
from backend.connectors.registry import connector_kinds
from backend.db.models import Source

router = APIRouter(tags=["sources"])
KB_SOURCES = "/knowledge-bases/{kb_id}/sources"


def _public(source: Source, documents: int) -> SourcePublic:
    return SourcePublic.model_validate(source).model_copy(update={"documents": documents})


@router.get("/connectors", response_model=ConnectorsPublic)
def list_connectors() -> ConnectorsPublic:
    return ConnectorsPublic(
        data=[
            ConnectorPublic(
                kind=kind, description=cls.description, settings_schema=cls.Settings.model_json_schema()
            )
            for kind, cls in sorted(connector_kinds().items())
        ]
    )


@router.post(KB_SOURCES, status_code=status.HTTP_201_CREATED, response_model=SourceCreated)
def create_source(kb_id: str, body: SourceCreate, services: ServicesDep) -> SourceCreated:
    """Add a source; its first sync is queued at once unless ``sync`` is false."""
    with services.sessions.begin() as session:
        kbs.get(session, kb_id)
        source = sources.create(
            session,
            kb_id=kb_id,
            kind=body.kind,
            url=body.url,
            settings=body.settings,
            tags=body.tags,
            schedule=body.schedule,
            remove_after=body.remove_after,
            policy=services.source_policy(),
        )
        job = None
        if body.sync:
            job, _ = sources.request_sync(session, source, max_attempts=services.settings.ingest.max_attempts)
        created = SourceCreated.model_validate(source).model_copy(
            update={"job": JobPublic.of(job) if job else None}
        )
    services.wake_workers()
    return created


@router.get(KB_SOURCES, response_model=SourcesPublic)
def list_sources(kb_id: str, session: SessionDep) -> SourcesPublic:
    kbs.get(session, kb_id)
    found = sources.list_for(session, kb_id)
    counts = sources.document_counts(session, [s.id for s in found])
    return SourcesPublic(data=[_public(s, counts.get(s.id, 0)) for s in found])


@router.get(KB_SOURCES + "/{source_id}", response_model=SourcePublic)
def get_source(kb_id: str, source_id: str, session: SessionDep) -> SourcePublic:
    source = sources.get(session, kb_id, source_id)
    return _public(source, sources.document_counts(session, [source_id]).get(source_id, 0))


@router.patch(KB_SOURCES + "/{source_id}", response_model=SourcePublic)
def update_source(kb_id: str, source_id: str, body: SourceUpdate, services: ServicesDep) -> SourcePublic:
    """Change what is given; the next sync uses it. A new schedule counts from now."""
    with services.sessions.begin() as session:
        source = sources.get(session, kb_id, source_id)
        sources.update_source(session, source, body.model_dump(exclude_unset=True), services.source_policy())
        session.flush()
        return _public(source, sources.document_counts(session, [source_id]).get(source_id, 0))


@router.delete(KB_SOURCES + "/{source_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_source(kb_id: str, source_id: str, services: ServicesDep) -> None:
    """Delete the source and the documents it brought (their vectors too)."""
    sources.delete_source(
        services.sessions,
        services.encoders.stores_of(kb_id),
        kb_id,
        source_id,
        data_dir=services.settings.data_dir,
    )


@router.post(
    KB_SOURCES + "/{source_id}/sync", status_code=status.HTTP_202_ACCEPTED, response_model=SyncQueued
)
def sync_source(kb_id: str, source_id: str, services: ServicesDep) -> SyncQueued:
    """Queue a sync now; if one is already queued or running, that one is returned (one at a time)."""
    with services.sessions.begin() as session:
        source = sources.get(session, kb_id, source_id)
        job, new = sources.request_sync(session, source, max_attempts=services.settings.ingest.max_attempts)
        queued = SyncQueued(job=JobPublic.of(job), queued_now=new)
    services.wake_workers()
    return queued


@router.get(KB_SOURCES + "/{source_id}/syncs", response_model=SyncsPublic)
def list_syncs(
    kb_id: str, source_id: str, session: SessionDep, limit: int = Query(20, ge=1, le=200)
) -> SyncsPublic:
    """The source's latest syncs, newest first: counts, and the items that failed with the reason."""
    sources.get(session, kb_id, source_id)
    return SyncsPublic(
        data=[SyncPublic.model_validate(s) for s in sources.recent_syncs(session, source_id, limit=limit)]
    )


@router.get(KB_SOURCES + "/{source_id}/documents", response_model=DocumentsPublic)
def list_source_documents(
    kb_id: str,
    source_id: str,
    session: SessionDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31 - 1),
) -> DocumentsPublic:
    sources.get(session, kb_id, source_id)
    found = sources.documents_of(session, source_id, limit=limit, offset=offset)
    return DocumentsPublic(data=[DocumentPublic.model_validate(d) for d in found], count=len(found))
