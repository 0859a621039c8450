"""Parse → chunk → embed → records: the pure part of ingestion, shared by the worker and bench/.

Embedding runs in batches across the document's chunks (the encoder sorts each batch by length);
``on_progress`` is called after each batch so a long document shows movement and keeps its lease.

Every record carries ``lang``, the language its keywords were analysed in: the chunk's own when it
says clearly (a bilingual page keeps both), else its document's.

Every record carries ``text_hash`` (of the exact text that was embedded). Because a collection holds
one encoder version, the stored points of a document are an embedding cache keyed by (encoder
version, text hash): re-ingesting an edited document passes them as ``reuse`` and only the chunks
whose text changed are embedded again. Each record also carries its text's sentence vectors
(``sentences``), encoded after the chunks and reused likewise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.encoder.base import Embedder
from backend.keywords import LexicalEncoder
from backend.keywords.analysis import DEFAULT_LANGUAGE
from backend.retrieval.stored_sentences import current, sentence_fields
from backend.text.languages import language_of
from backend.vectorstore.base import SENTENCES, ChunkRecord, StoredChunk
from backend.vectorstore.ids import point_id, text_hash
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


Parser = Callable[..., ParsedDocument]


@dataclass
class IngestPipeline:
    embedder: Embedder
    lexical: LexicalEncoder
    chunker: Chunker
    parser: Parser = parse
    """:func:`ingest.loaders.parse`, or an :class:`ingest.isolation.IsolatedParser`'s ``parse``."""
    on_encoded: Callable[[int, float], None] | None = None
    """Called after each encoder call with its batch size and seconds (the metrics)."""
    sentence_vectors: bool = True
    """Also encode each chunk's sentences and store them in its payload, so that searches read them
    instead of encoding them (backend/retrieval/stored_sentences.py)."""

    def parse(self, data: bytes, *, format: str, name: str) -> ParsedDocument:
        return self.parser(data, format=format, name=name)

    def chunk(self, parsed: ParsedDocument) -> list[Chunk]:
        return self.chunker.split(parsed)

    def records_many(
        self,
        documents: Sequence[tuple[DocumentRef, list[Chunk], Mapping[str, StoredChunk]]],
        on_progress: Callable[[float], None] | None = None,
    ) -> list[list[ChunkRecord]]:
        """Records for several documents' chunks, embedded together.

        Vectors found in a document's ``reuse`` map (text hash → stored vectors) are not recomputed.
        The rest are sorted by length across all documents and embedded in full batches, so fifty
        one-chunk documents cost one encoder call, not fifty, and each batch pads to similar lengths;
        then, with :attr:`sentence_vectors`, the sentences of every chunk that has none stored.
        """
        hashes = [[text_hash(c.embedding_text) for c in chunks] for _, chunks, _ in documents]
        vectors: dict[tuple[int, int], np.ndarray] = {}
        sentences: dict[tuple[int, int], dict[str, Any] | None] = {}
        missing: list[tuple[int, int]] = []
        for d, (_, _chunks, reuse) in enumerate(documents):
            for i, h in enumerate(hashes[d]):
                if h in reuse:
                    vectors[d, i] = reuse[h].dense
                    if current(reuse[h].sentences, self.embedder.model_id):
                        sentences[d, i] = reuse[h].sentences
                else:
                    missing.append((d, i))
        unsentenced = [
            (d, i)
            for d, (_, chunks, _) in enumerate(documents)
            for i in range(len(chunks))
            if (d, i) not in sentences
        ]
        share = 1.0 if not self.sentence_vectors or not unsentenced else 0.6  # of the progress: dense vectors
        missing.sort(key=lambda key: -len(documents[key[0]][1][key[1]].embedding_text))
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start : start + EMBED_BATCH]
            texts = [documents[d][1][i].embedding_text for d, i in batch]
            vectors.update(zip(batch, self._encoded(texts), strict=True))
            if on_progress is not None:
                on_progress(share * (start + len(batch)) / len(missing))
        if self.sentence_vectors and unsentenced:
            texts = [documents[d][1][i].text for d, i in unsentenced]
            fields = sentence_fields(
                texts,
                self._encoded,
                self.embedder.model_id,
                None if on_progress is None else lambda f: on_progress(share + (1 - share) * f),
            )
            sentences.update(zip(unsentenced, fields, strict=True))
        out = []
        for d, (ref, chunks, _) in enumerate(documents):
            language = document_language(chunks)
            out.append(
                [
                    self._record(
                        ref,
                        chunk,
                        vectors[d, i],
                        hashes[d][i],
                        chunk_language(chunk.text, language),
                        sentences.get((d, i)),
                    )
                    for i, chunk in enumerate(chunks)
                ]
            )
        return out

    def _encoded(self, texts: list[str]) -> np.ndarray:
        started = time.perf_counter()
        vectors = self.embedder.embed_documents(texts)
        if self.on_encoded is not None:
            self.on_encoded(len(texts), time.perf_counter() - started)
        return vectors

    def _record(
        self,
        ref: DocumentRef,
        chunk: Chunk,
        vector: np.ndarray,
        digest: str,
        language: str,
        sentences: dict[str, Any] | None,
    ) -> ChunkRecord:
        return ChunkRecord(
            id=point_id(ref.document_id, chunk.ordinal, chunk.text),
            dense=vector,
            sparse=self.lexical.encode_document(chunk.embedding_text, language),
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
                "context": chunk.context,
                "chunk_index": chunk.ordinal,
                "char_start": chunk.char_start,
                "char_end": chunk.char_end,
                "location": chunk.location,
                "text_hash": digest,
                "lang": language,
                **({SENTENCES: sentences} if sentences else {}),
            },
        )


CHUNK_LANGUAGE_CERTAINTY = 0.9
"""A chunk is analysed in its own detected language only above this probability; shorter, vaguer
chunks (a heading, a code sample) take their document's."""


def document_language(chunks: Sequence[Chunk]) -> str:
    """The language of a document's first chunks (:data:`DEFAULT_LANGUAGE` when it cannot be told)."""
    sample = "\n".join(c.text for c in chunks[:8])
    return language_of(sample, DEFAULT_LANGUAGE)


def chunk_language(text: str, document: str) -> str:
    return language_of(text, document, min_probability=CHUNK_LANGUAGE_CERTAINTY)
