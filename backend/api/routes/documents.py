"""/v1/knowledge-bases/{kb_id}/documents: upload (multipart files or JSON text), list, read, retry,
delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Query, Request, status
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from backend.api.deps import ServicesDep, SessionDep
from backend.api.schemas import (
    ChunkPublic,
    ChunksPublic,
    DocumentDetail,
    DocumentPublic,
    DocumentsPublic,
    DocumentTextCreate,
    JobPublic,
    UploadAccepted,
    UploadItem,
    UrlCreate,
)
from backend.catalog import documents as docs
from backend.catalog import knowledge_bases as kbs
from backend.catalog import urls
from backend.catalog.formats import detect_format
from backend.catalog.names import file_name
from backend.db.models import DocumentStatus
from backend.errors import Conflict, InvalidInput, PayloadTooLarge, UnsupportedFormat
from backend.services import Services


@dataclass(frozen=True, slots=True)
class _Upload:
    data: bytes
    format: str
    name: str
    """How messages refer to it: the filename, or the title of a JSON text."""
    title: str | None = None
    source: str | None = None
    filename: str | None = None
    tags: tuple[str, ...] = ()


router = APIRouter(prefix="/knowledge-bases/{kb_id}/documents", tags=["documents"])

_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            },
            "application/json": {"schema": DocumentTextCreate.model_json_schema()},
        },
    }
}


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"{upload.filename} is larger than the limit of {limit:,} bytes (KBCHAT_INGEST__MAX_UPLOAD_BYTES)"
        )
    return data


async def _items_from_request(request: Request, services: Services) -> list[_Upload]:
    """One upload for each document in the request (a JSON text, or each multipart file)."""
    limits = services.settings.ingest
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            body = DocumentTextCreate.model_validate_json(await request.body())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidInput(problems) from None
        return [
            _Upload(
                body.text.encode("utf-8"),
                body.format,
                body.title,
                body.title,
                body.source,
                None,
                tuple(body.tags),
            )
        ]
    if media == "multipart/form-data":
        form = await request.form(max_files=limits.max_files_per_request, max_fields=100)
        files = [f for f in form.getlist("files") + form.getlist("file") if isinstance(f, UploadFile)]
        if not files:
            raise InvalidInput("no files in the form; send them as multipart fields named 'files'")
        tags = tuple(t for field in form.getlist("tags") if isinstance(field, str) for t in field.split(","))
        out = []
        for upload in files:
            name = file_name(upload.filename)  # the client's path, if it sent one, is not ours to keep
            fmt = detect_format(name, upload.content_type)
            data = await _read_limited(upload, limits.max_upload_bytes)
            out.append(_Upload(data, fmt, name, filename=name, tags=tags))
        return out
    raise UnsupportedFormat(
        f"content type {media or 'missing'!r} is not accepted here; send multipart/form-data with 'files', "
        "or application/json with {text, title}"
    )


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=UploadAccepted, openapi_extra=_UPLOAD_DOC
)
async def upload_documents(kb_id: str, request: Request, services: ServicesDep) -> UploadAccepted:
    await anyio.to_thread.run_sync(_check_kb, services, kb_id)
    items = await _items_from_request(request, services)
    accepted = await anyio.to_thread.run_sync(_accept_all, services, kb_id, items)
    services.wake_workers()
    return UploadAccepted(documents=accepted)


def _check_kb(services: Services, kb_id: str) -> None:
    with services.sessions() as session:
        kbs.get(session, kb_id)


def _accept_all(services: Services, kb_id: str, items: list[_Upload]) -> list[UploadItem]:
    """All or nothing: one bad file in a batch rejects the batch, so the client can fix it and resend."""
    limits = services.settings.ingest
    with services.sessions.begin() as session:
        out = []
        for item in items:
            result = docs.accept_upload(
                session,
                kb_id=kb_id,
                data=item.data,
                format=item.format,
                name=item.name,
                title=item.title,
                source=item.source,
                filename=item.filename,
                tags=list(item.tags),
                max_bytes=limits.max_upload_bytes,
                max_attempts=limits.max_attempts,
                # A file name or an explicit source names a document; a bare JSON text does not.
                replace=item.source is not None or item.filename is not None,
            )
            job = result.job or docs.latest_job(session, result.document.id)
            out.append(
                UploadItem(
                    document_id=result.document.id,
                    job_id=job.id if job else None,
                    filename=result.document.filename,
                    status=result.document.status,
                    unchanged=result.unchanged,
                    replaced=result.replaced,
                )
            )
        return out


@router.post("/from-url", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def ingest_url(kb_id: str, body: UrlCreate, services: ServicesDep) -> JobPublic:
    """Fetch a page (or every page of a sitemap) in the background; each page becomes a document
    whose source is its URL, so fetching again updates pages instead of duplicating them."""
    limits = services.settings.ingest
    with services.sessions.begin() as session:
        kbs.get(session, kb_id)
        job = urls.request_fetch(
            session,
            kb_id=kb_id,
            url=body.url,
            policy=urls.UrlPolicy(limits.url_allowlist),
            sitemap=body.sitemap,
            tags=docs.clean_tags(body.tags),
            max_attempts=limits.max_attempts,
        )
        session.flush()
        public = JobPublic.of(job)
    services.wake_workers()
    return public


@router.get("", response_model=DocumentsPublic)
def list_documents(
    kb_id: str,
    session: SessionDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31 - 1),
) -> DocumentsPublic:
    kbs.get(session, kb_id)
    documents = docs.list_for(session, kb_id, limit=limit, offset=offset)
    busy = docs.work_in_progress(session, documents)
    data = [
        DocumentPublic.model_validate(d).model_copy(
            update={"stage": busy[d.id].stage, "progress": busy[d.id].progress} if d.id in busy else {}
        )
        for d in documents
    ]
    return DocumentsPublic(data=data, count=len(data))


@router.get("/{document_id}", response_model=DocumentDetail)
def get_document(kb_id: str, document_id: str, session: SessionDep) -> DocumentDetail:
    document = docs.get(session, kb_id, document_id)
    job = docs.latest_job(session, document_id)
    return DocumentDetail.model_validate(document).model_copy(
        update={"job": JobPublic.of(job) if job else None}
    )


@router.get("/{document_id}/chunks", response_model=ChunksPublic)
def list_chunks(
    kb_id: str,
    document_id: str,
    services: ServicesDep,
    offset: int = Query(0, ge=0, le=10_000_000),
    limit: int = Query(50, ge=1, le=200),
) -> ChunksPublic:
    """The document's passages in order, from the vector store of the encoder serving its knowledge
    base: what search can find, with heading path and location (the console's chunk view)."""
    with services.sessions() as session:
        total = docs.get(session, kb_id, document_id).chunk_count  # 404 first for an unknown document
    payloads = services.encoders.snapshot(kb_id).vectors.neighbours(
        kb_id=kb_id, document_id=document_id, first=offset, last=offset + limit - 1
    )
    return ChunksPublic(
        data=[
            ChunkPublic(
                index=p["chunk_index"],
                text=p["text"],
                heading=list(p.get("heading") or []),
                char_start=p.get("char_start", 0),
                char_end=p.get("char_end", 0),
                location=p.get("location") or {},
                lang=p.get("lang"),
            )
            for p in payloads
        ],
        total=total,
    )


@router.post("/{document_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def retry_document(kb_id: str, document_id: str, services: ServicesDep) -> JobPublic:
    """Ingest a failed document again from its stored upload (after the cause was fixed: a parser
    limit raised, an encoder back). Only a failed one: any other is queued, being ingested or done."""
    with services.sessions.begin() as session:
        document = docs.get(session, kb_id, document_id)
        if document.status != DocumentStatus.FAILED:
            raise Conflict(
                f"document {document_id} is {document.status.value}, not failed; only a failed document "
                "is retried (upload it again to replace a ready one)"
            )
        job = docs.requeue(session, document, max_attempts=services.settings.ingest.max_attempts)
        session.flush()
        public = JobPublic.of(job)
    services.wake_workers()
    return public


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(kb_id: str, document_id: str, services: ServicesDep) -> None:
    docs.delete(services.sessions, services.encoders.stores_of(kb_id), kb_id, document_id)
