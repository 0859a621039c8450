"""Query → ranked passages, scoped to one knowledge base."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

from backend.encoder.base import Embedder
from backend.errors import InvalidInput
from backend.retrieval.lexical import LexicalEncoder
from backend.vectorstore.base import Hit, SearchMode, VectorStore

MAX_QUERY_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    text: str
    score: float
    relevance: float
    document_id: str
    title: str
    source: str
    heading: list[str]
    chunk_index: int
    char_start: int
    char_end: int

    @classmethod
    def from_hit(cls, hit: Hit) -> Passage:
        p = hit.payload
        return cls(
            id=hit.id,
            text=p.get("text", ""),
            score=hit.score,
            relevance=hit.relevance,
            document_id=p.get("document_id", ""),
            title=p.get("title", ""),
            source=p.get("source", ""),
            heading=list(p.get("heading", [])),
            chunk_index=int(p.get("chunk_index", 0)),
            char_start=int(p.get("char_start", 0)),
            char_end=int(p.get("char_end", 0)),
        )


@dataclass(frozen=True, slots=True)
class SearchResult:
    passages: list[Passage]
    mode: SearchMode
    took_ms: float


class Retriever:
    def __init__(self, embedder: Embedder, lexical: LexicalEncoder, vectors: VectorStore) -> None:
        self.embedder, self.lexical, self.vectors = embedder, lexical, vectors

    def search(
        self,
        *,
        kb_id: str,
        query: str,
        top_k: int = 5,
        mode: SearchMode = SearchMode.DENSE,
        document_ids: Collection[str] | None = None,
    ) -> SearchResult:
        query = query.strip()
        if not query:
            raise InvalidInput("query is empty; send the question or keywords to search for")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidInput(f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
        started = time.perf_counter()
        dense = self.embedder.embed_queries([query])[0]
        hits = self.vectors.search(
            kb_id=kb_id,
            dense=dense,
            sparse=self.lexical.encode_query(query),
            mode=mode,
            limit=top_k,
            document_ids=document_ids,
        )
        took_ms = (time.perf_counter() - started) * 1000
        return SearchResult([Passage.from_hit(h) for h in hits], mode, took_ms)
