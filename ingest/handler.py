"""The "ingest" job: turn one stored upload into searchable points and mark the document ready.

Idempotent by construction: point ids are deterministic, so a retry (or a takeover after a crash)
rewrites the same points; points of an earlier version of the document are deleted afterwards.

A new version of a document (a re-upload under the same source) reuses the stored vectors of every
chunk whose text did not change; its old points stay searchable until the new ones are written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from backend.db.models import Document, DocumentContent, DocumentStatus
from backend.errors import InvalidInput
from backend.jobs.worker import JobContext, JobHandler, JobLost
from backend.services import Services
from ingest.chunking.chunker import Chunker
from ingest.isolation import IsolatedParser
from ingest.loaders import parse
from ingest.pipeline import DocumentRef, IngestPipeline

log = logging.getLogger(__name__)


def _set_status(services: Services, document_id: str, status: DocumentStatus, **values: object) -> bool:
    with services.sessions.begin() as session:
        document = session.get(Document, document_id)
        if document is None:
            return False
        document.status = status
        for key, value in values.items():
            setattr(document, key, value)
        return True


def _finish(services: Services, document_id: str, content_hash: str, chunks: int, title: str) -> str:
    """Mark the document ready, unless it was deleted or re-uploaded meanwhile: "ready", "deleted"
    or "superseded" (a newer version's job is queued behind us and will finish the document)."""
    with services.sessions.begin() as session:
        document = session.get(Document, document_id, with_for_update=True)
        if document is None:
            return "deleted"
        if document.content_hash != content_hash:
            return "superseded"
        document.status = DocumentStatus.READY
        document.chunk_count = chunks
        document.title = title
        document.error = None
        return "ready"


def make_ingest_handler(services: Services) -> JobHandler:
    chunker = Chunker(
        services.embedder.tokenizer,
        max_tokens=services.embedder.max_tokens,
        overlap_tokens=services.settings.chunking.overlap_tokens,
    )
    limits = services.settings.ingest
    if limits.isolate_parsing:
        isolated = IsolatedParser(timeout_s=limits.parse_timeout_s, memory_mb=limits.parse_memory_mb)
        services.closers.append(isolated.close)
        pipeline = IngestPipeline(services.embedder, services.lexical, chunker, isolated.parse)
    else:
        pipeline = IngestPipeline(services.embedder, services.lexical, chunker, parse)
    vectors = services.vectors

    def handle(ctx: JobContext) -> None:
        document_id = ctx.job.document_id
        assert document_id is not None, "ingest jobs always name a document"
        with services.sessions.begin() as session:
            document = session.get(Document, document_id)
            if document is None:
                log.info("document %s was deleted before ingestion; nothing to do", document_id)
                return
            content = session.get(DocumentContent, document_id)
            data = content.data if content is not None else b""
            document.status = DocumentStatus.PROCESSING
            document.error = None
            name, fmt = document.filename or document.title, document.meta.get("format", "text")
            use_parsed_title = not document.meta.get("title_given", False)
            content_hash = document.content_hash
            # A document that was ready (or half-written by a crashed attempt) has points to reuse.
            has_points = (
                ctx.job.attempts > 1
                or document.meta.get("version", 1) > 1
                or bool(ctx.job.payload.get("reconcile"))
            )
            ref = DocumentRef(
                document.kb_id,
                document.id,
                document.title,
                document.source,
                document.content_type,
                tuple(document.meta.get("tags", [])),
                document.created_at.timestamp(),
            )
        started = time.perf_counter()
        try:
            ctx.report("parsing", 0.05)  # not forced: tiny documents finish before a write is worth it
            parsed = pipeline.parse(data, format=fmt, name=name)
            if use_parsed_title and parsed.title:
                ref = replace(ref, title=parsed.title[:500])
            ctx.report("chunking", 0.1)
            chunks = pipeline.chunk(parsed)
            ctx.report("embedding", 0.15)
            reuse = vectors.document_vectors(kb_id=ref.kb_id, document_id=document_id) if has_points else {}
            before = (pipeline.stats.embedded, pipeline.stats.reused)
            records = pipeline.records(
                ref, chunks, on_progress=lambda f: ctx.report("embedding", 0.15 + 0.75 * f), reuse=reuse
            )
            embedded, reused = pipeline.stats.embedded - before[0], pipeline.stats.reused - before[1]
            ctx.report("storing", 0.9)
            vectors.upsert(records)
            if has_points:
                # Points of the previous version (or of an attempt under other settings) go last, so the
                # document never disappears from search while it is re-ingested. A brand-new document
                # has none, and the delete (a full scan in Qdrant's local mode) is skipped.
                vectors.delete_document(
                    kb_id=ref.kb_id, document_id=ref.document_id, keep_ids=[r.id for r in records]
                )
        except JobLost:
            raise  # cancelled or taken over: the new owner (or the delete) decides the document's state
        except InvalidInput as exc:
            _set_status(services, document_id, DocumentStatus.FAILED, error=exc.message)
            raise
        except Exception as exc:
            last = ctx.job.attempts >= ctx.job.max_attempts
            _set_status(
                services,
                document_id,
                DocumentStatus.FAILED if last else DocumentStatus.QUEUED,
                error=f"attempt {ctx.job.attempts} failed: {exc}",
            )
            raise
        outcome = _finish(services, document_id, content_hash, len(records), ref.title)
        if outcome == "deleted":
            # Deleted while we worked: take back what we wrote so no orphan vectors remain.
            vectors.delete_document(kb_id=ref.kb_id, document_id=document_id)
            log.info("document %s was deleted during ingestion; its vectors were removed", document_id)
            return
        if outcome == "superseded":
            log.info(
                "document %s got a newer upload while this one was ingested; the next job wins", document_id
            )
            ctx.result = {"superseded": True}
            return
        ctx.result = {"chunks": len(records), "embedded": embedded, "reused": reused}
        log.info(
            "document %s ingested: %d chunks (%d embedded, %d reused) in %.2fs",
            document_id,
            len(records),
            embedded,
            reused,
            time.perf_counter() - started,
        )

    return handle
