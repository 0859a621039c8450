"""Parse → chunk → embed → records: the pure part of ingestion, shared by the worker and bench/.

Embedding runs in batches across the document's chunks (the encoder sorts each batch by length);
``on_progress`` is called after each batch so a long document shows movement and keeps its lease.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backend.encoder.base import Embedder
from backend.retrieval.lexical import LexicalEncoder
from backend.vectorstore.base import ChunkRecord
from backend.vectorstore.ids import point_id
from ingest.chunking.chunker import Chunk, Chunker
from ingest.loaders import ParsedDocument, parse

EMBED_BATCH = 128


@dataclass(frozen=True, slots=True)
class DocumentRef:
    kb_id: str
    document_id: str
    title: str
    source: str
    content_type: str
    tags: tuple[str, ...] = ()
    created_at: float = 0.0
    """Unix seconds: the upload time, for date filters."""


class IngestPipeline:
    def __init__(self, embedder: Embedder, lexical: LexicalEncoder, chunker: Chunker) -> None:
        self.embedder, self.lexical, self.chunker = embedder, lexical, chunker

    def parse(self, data: bytes, *, format: str, name: str) -> ParsedDocument:
        return parse(data, format=format, name=name)

    def chunk(self, parsed: ParsedDocument) -> list[Chunk]:
        return self.chunker.split(parsed)

    def records(
        self,
        ref: DocumentRef,
        chunks: list[Chunk],
        on_progress: Callable[[float], None] | None = None,
    ) -> list[ChunkRecord]:
        out: list[ChunkRecord] = []
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start : start + EMBED_BATCH]
            vectors = self.embedder.embed_documents([c.embedding_text for c in batch])
            for chunk, vector in zip(batch, vectors, strict=True):
                out.append(
                    ChunkRecord(
                        id=point_id(ref.document_id, chunk.ordinal, chunk.text),
                        dense=vector,
                        sparse=self.lexical.encode_document(chunk.embedding_text),
                        payload={
                            "kb_id": ref.kb_id,
                            "document_id": ref.document_id,
                            "text": chunk.text,
                            "title": ref.title,
                            "source": ref.source,
                            "content_type": ref.content_type,
                            "tags": list(ref.tags),
                            "created_at": ref.created_at,
                            "heading": list(chunk.heading),
                            "chunk_index": chunk.ordinal,
                            "char_start": chunk.char_start,
                            "char_end": chunk.char_end,
                            "location": chunk.location,
                        },
                    )
                )
            if on_progress is not None:
                on_progress(len(out) / len(chunks))
        return out
