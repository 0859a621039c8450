"""The "ingest" job: turn stored uploads into searchable points and mark the documents ready.

Jobs are taken in batches (``KBCHAT_INGEST__BATCH_DOCUMENTS``): their chunks are embedded together
and their states are written in a few transactions instead of a few per document. Each document
still has its own outcome: one that cannot be parsed fails alone. Each knowledge base may have its
own encoder, so a batch is grouped by encoder: every group is chunked with its encoder's tokenizer,
embedded in shared forward passes and stored in its encoder's collection.

Idempotent by construction: point ids are deterministic, so a retry (or a takeover after a crash)
rewrites the same points; points of an earlier version of the document are deleted afterwards.
A new version of a document (a re-upload under the same source) reuses the stored vectors of every
chunk whose text did not change; its old points stay searchable until the new ones are written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

from backend import tracing
from backend.db.models import Document, DocumentContent, DocumentStatus
from backend.errors import InvalidInput
from backend.jobs.worker import JobBatch, JobContext
from backend.plugins import PluginHost
from backend.serving.snapshot import EncoderSnapshot
from backend.vectorstore.base import ChunkRecord
from ingest.chunking.chunker import Chunk, Chunker
from ingest.duplicates import Stored, flag_near_duplicates
from ingest.isolation import IsolatedParser
from ingest.loaders import parse
from ingest.pipeline import DocumentRef, IngestPipeline

log = logging.getLogger(__name__)


@dataclass
class _Work:
    """One document's way through a batch."""

    ctx: JobContext
    ref: DocumentRef
    data: bytes
    format: str
    name: str
    use_parsed_title: bool
    content_hash: str
    has_points: bool
    """Stored points may exist (a new version, a retry, a repair): reuse them, delete the stale ones."""
    snapshot: EncoderSnapshot | None = None
    """The encoder its chunks were cut for (its tokenizer sets their limits)."""
    chunks: list[Chunk] = field(default_factory=list)
    records: list[ChunkRecord] = field(default_factory=list)
    error: BaseException | None = None
    embedded: int = 0


class IngestHandler:
    def __init__(self, services: PluginHost) -> None:
        self.services = services
        limits = services.settings.ingest
        self.batch_size = limits.batch_documents
        self.batch_bytes = limits.batch_bytes
        self.parser = parse
        if limits.isolate_parsing:
            isolated = IsolatedParser(timeout_s=limits.parse_timeout_s, memory_mb=limits.parse_memory_mb)
            services.closers.append(isolated.close)
            self.parser = isolated.parse

    def _pipeline(self, snapshot: EncoderSnapshot) -> IngestPipeline:
        """A pipeline on ``snapshot``'s encoder (its tokenizer sets the chunk limits). Built per use: it
        only holds references, and keeping none means an evicted encoder is never kept alive here."""
        embedder = snapshot.embedder
        chunker = Chunker(
            embedder.tokenizer,
            max_tokens=embedder.max_tokens,
            overlap_tokens=self.services.settings.chunking.overlap_tokens,
            lead_tokens=self.services.settings.chunking.lead_tokens,
        )
        return IngestPipeline(
            embedder,
            snapshot.keywords,
            chunker,
            self.parser,
            on_encoded=self.services.telemetry.encoded,
            sentence_vectors=self.services.settings.chunking.sentence_vectors,
        )

    def prepare(self, batch: JobBatch) -> None:
        """Read, parse and chunk the batch's documents (the worker runs this for the next batch while
        the current one is embedded). Chunks depend on the encoder's tokenizer, so each document keeps
        the snapshot it was chunked for: if its knowledge base switches encoders before the batch runs,
        it is chunked again."""
        batch.prepared = self._prepared(batch)

    def _prepared(self, batch: JobBatch) -> dict[str, _Work | None]:
        with tracing.span("ingest.prepare", **{"kbchat.documents": len(batch.contexts)}):
            return self._read_and_chunk(batch)

    def _read_and_chunk(self, batch: JobBatch) -> dict[str, _Work | None]:
        loaded = self._load(batch.contexts)
        batch.report("parsing", 0.05)
        for w in loaded.values():
            if w is not None:
                self._chunk(w, self.services.encoders.snapshot(w.ref.kb_id))
        return loaded

    def _chunk(self, w: _Work, snapshot: EncoderSnapshot) -> None:
        w.snapshot, w.error = snapshot, None
        pipeline = self._pipeline(snapshot)
        try:
            parsed = pipeline.parse(w.data, format=w.format, name=w.name)
            if not w.use_parsed_title:
                # The uploader named what the document is about: its passages carry that title to the
                # encoder and keyword index, not the file's own (an HTML <title>, a PDF's metadata).
                parsed.title = w.ref.title
            elif parsed.title:
                w.ref = replace(w.ref, title=parsed.title[:500])
            w.chunks = pipeline.chunk(parsed)
        except Exception as exc:  # this document's fault (InvalidInput) or a parser bug: it alone fails
            w.error = exc

    def run_batch(self, batch: JobBatch) -> list[BaseException | None]:
        started = time.perf_counter()
        self.services.follow_encoders()  # another process may have switched a knowledge base's encoder
        loaded = batch.prepared if batch.prepared is not None else self._prepared(batch)
        work = [w for w in loaded.values() if w is not None]
        groups: dict[tuple[str, str], list[_Work]] = {}
        for w in work:
            current = self.services.encoders.snapshot(w.ref.kb_id)
            if w.snapshot is None or w.snapshot.embedder is not current.embedder:
                self._chunk(w, current)  # switched since it was prepared: cut for the new tokenizer
            w.snapshot = current
            if w.error is None:
                groups.setdefault((current.vectors.collection, w.ref.kb_id), []).append(w)
        # One group per knowledge base, the smallest first, each stored, finished and its jobs
        # recorded before the next: a tenant's few documents never wait for another's hundreds in
        # the same batch.
        for group in sorted(groups.values(), key=lambda g: sum(len(w.chunks) for w in g)):
            attributes = {
                "kbchat.kb_id": group[0].ref.kb_id,
                "kbchat.documents": len(group),
                "kbchat.chunks": sum(len(w.chunks) for w in group),
            }
            with tracing.span("ingest.embed_store", **attributes):
                self._embed_and_store(group, batch)
            stored = [w for w in group if w.error is None]
            self._finish(stored, batch.lost)
            batch.complete([w.ctx for w in stored])
        self._finish([w for w in work if w.error is not None], batch.lost)
        log.info(
            "ingest batch: %d documents, %d chunks (%d embedded, %d encoder(s)) in %.2fs",
            len(work),
            sum(len(w.records) for w in work),
            sum(w.embedded for w in work),
            len(groups),
            time.perf_counter() - started,
        )
        return [_error_of(loaded[c.job.id]) for c in batch.contexts]

    def _embed_and_store(self, todo: list[_Work], batch: JobBatch) -> None:
        """Embed one encoder's documents together and store them in its collection."""
        snapshot = todo[0].snapshot
        assert snapshot is not None
        pipeline, vectors = self._pipeline(snapshot), snapshot.vectors
        try:
            batch.report("embedding", 0.15)
            reuse = [
                vectors.document_vectors(kb_id=w.ref.kb_id, document_id=w.ref.document_id)
                if w.has_points
                else {}
                for w in todo
            ]
            records = pipeline.records_many(
                [(w.ref, w.chunks, r) for w, r in zip(todo, reuse, strict=True)],
                on_progress=lambda f: batch.report("embedding", 0.15 + 0.75 * f),
            )
            for w, r, recs in zip(todo, reuse, records, strict=True):
                w.records, w.embedded = recs, sum(1 for rec in recs if rec.payload["text_hash"] not in r)
            batch.report("storing", 0.9)
            todo = [w for w in todo if w.ctx.job.id not in batch.lost]
            vectors.upsert([rec for w in todo for rec in w.records])
            for w in todo:
                if w.has_points:
                    # Points of the previous version go last, so the document never disappears from search
                    # while it is re-ingested. A brand-new document has none, and the delete (a full scan
                    # in Qdrant's local mode) is skipped.
                    vectors.delete_document(
                        kb_id=w.ref.kb_id, document_id=w.ref.document_id, keep_ids=[r.id for r in w.records]
                    )
        except Exception as exc:  # the encoder or the vector store: every remaining document retries
            log.exception("ingesting a batch of %d documents into %s failed", len(todo), vectors.collection)
            for w in todo:
                w.error = exc

    def _load(self, contexts: list[JobContext]) -> dict[str, _Work | None]:
        """Read the documents and their bytes and mark them processing, in one transaction."""
        out: dict[str, _Work | None] = {}
        with self.services.sessions.begin() as session:
            for ctx in contexts:
                document_id = ctx.job.document_id
                document = session.get(Document, document_id) if document_id else None
                if document is None:
                    log.info("document %s was deleted before ingestion; nothing to do", document_id)
                    out[ctx.job.id] = None
                    continue
                content = session.get(DocumentContent, document.id)
                document.status = DocumentStatus.PROCESSING
                document.error = None
                out[ctx.job.id] = _Work(
                    ctx=ctx,
                    ref=DocumentRef(
                        document.kb_id,
                        document.id,
                        document.title,
                        document.source,
                        document.content_type,
                        tuple(document.meta.get("tags", [])),
                        document.created_at.timestamp(),
                    ),
                    data=content.data if content is not None else b"",
                    format=document.meta.get("format", "text"),
                    name=document.filename or document.title,
                    use_parsed_title=not document.meta.get("title_given", False),
                    content_hash=document.content_hash,
                    has_points=ctx.job.attempts > 1
                    or document.meta.get("version", 1) > 1
                    or bool(ctx.job.payload.get("reconcile")),
                )
        return out

    def _finish(self, work: list[_Work], lost: set[str]) -> None:
        """Record every document's outcome in one transaction; a document deleted or re-uploaded while
        we worked is left alone (its vectors are taken back, or the newer job finishes it)."""
        deleted: list[_Work] = []
        stored: list[_Work] = []
        checked: list[Stored] = []
        with self.services.sessions.begin() as session:
            for w in work:
                if w.ctx.job.id in lost:
                    continue  # cancelled or taken over: the new owner decides the document's state
                document = session.get(Document, w.ref.document_id, with_for_update=True)
                if document is None:
                    deleted.append(w)
                    continue
                if document.content_hash != w.content_hash:
                    log.info(
                        "document %s got a newer upload meanwhile; the next job finishes it", document.id
                    )
                    w.ctx.result = {"superseded": True}
                    continue
                if w.error is None:
                    stored.append(w)
                    document.status = DocumentStatus.READY
                    document.chunk_count = len(w.records)
                    document.title = w.ref.title
                    document.error = None
                    w.ctx.result = {
                        "chunks": len(w.records),
                        "embedded": w.embedded,
                        "reused": len(w.records) - w.embedded,
                    }
                    assert w.snapshot is not None
                    checked.append(
                        Stored(
                            document.id, w.snapshot.embedder.model_id, [c.text for c in w.chunks], w.records
                        )
                    )
                elif isinstance(w.error, InvalidInput):
                    document.status, document.error = DocumentStatus.FAILED, w.error.message
                else:
                    last = w.ctx.job.attempts >= w.ctx.job.max_attempts
                    document.status = DocumentStatus.FAILED if last else DocumentStatus.QUEUED
                    document.error = f"attempt {w.ctx.job.attempts} failed: {w.error}"
        flags = flag_near_duplicates(self.services.sessions, checked)
        for w in stored:
            if flags.get(w.ref.document_id) and w.ctx.result is not None:
                w.ctx.result["near_duplicate_of"] = flags[w.ref.document_id]
        embedded = sum(w.embedded for w in stored)
        self.services.telemetry.stored(len(stored), embedded, sum(len(w.records) for w in stored) - embedded)
        for w in deleted:
            # Deleted while we worked: take back what we wrote so no orphan vectors remain.
            assert w.snapshot is not None
            w.snapshot.vectors.delete_document(kb_id=w.ref.kb_id, document_id=w.ref.document_id)
            log.info("document %s was deleted during ingestion; its vectors were removed", w.ref.document_id)


def _error_of(work: _Work | None) -> BaseException | None:
    return work.error if work is not None else None  # None: the document was deleted, nothing to do


def make_ingest_handler(services: PluginHost) -> IngestHandler:
    return IngestHandler(services)
