"""The vector-store seam: what ingestion writes and retrieval reads, independent of the engine.

Every point belongs to exactly one knowledge base (``kb_id`` in its payload) and one document;
every read and delete is scoped by ``kb_id`` so one tenant can never see or harm another's data.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

DENSE, SPARSE = "dense", "lexical"
"""Names of the two vectors of every point, the same in every backend."""
SENTENCES = "sentences"
"""The payload field holding a chunk's sentence vectors (backend/retrieval/stored_sentences.py)."""
TERMS = "terms"
"""The payload field holding a point's sparse term ids in collections whose keyword IDF is counted per
knowledge base (backend/vectorstore/keyword_idf.py): written by the store from the sparse vector, never
returned by a read."""
UPSERT_BATCH = 256


def collection_name(prefix: str, encoder_id: str) -> str:
    """``<prefix>_chunks_<encoder slug>``: one collection (or Edge shard) per encoder version."""
    slug = re.sub(r"[^a-z0-9]+", "_", encoder_id.lower()).strip("_")[:80]
    return f"{prefix}_chunks_{slug}"


class SearchMode(enum.StrEnum):
    DENSE = "dense"
    SPARSE = "sparse"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True, slots=True)
class Fusion:
    """Weighted reciprocal-rank fusion as Qdrant computes it: a passage at 0-based ``rank`` in a list
    of weight ``w`` scores ``1 / ((rank + 1) / w + k - 1)``; scores are summed over the lists."""

    k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Metadata filters, executed inside the vector store (never after the fact)."""

    document_ids: list[str] | None = None
    content_types: list[str] | None = None
    tags: list[str] | None = None
    """A passage matches when its document has any of these tags."""
    created_after: float | None = None
    """Unix seconds, inclusive."""
    created_before: float | None = None


class StoredChunk(NamedTuple):
    """What a re-ingest can reuse of a stored chunk whose text did not change."""

    dense: np.ndarray
    sentences: dict[str, Any] | None = None
    """The payload's :data:`SENTENCES` value (None: stored without)."""


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """One chunk as stored: id from :func:`backend.vectorstore.ids.point_id`, both vectors, payload.

    The payload always holds ``kb_id``, ``document_id``, ``text``, ``title``, ``source``,
    ``content_type``, ``tags``, ``created_at`` (Unix seconds), ``chunk_index``, ``char_start``,
    ``char_end``, ``heading`` (the heading path) and ``lang`` (the language its keywords were
    analysed in; absent on points of the first releases), so a citation points back to the exact place in
    the source, and filters run inside the store, without a database round trip. ``context`` (the
    heading line the encoder read above the text) and ``text_hash`` let a re-index re-embed exactly
    what was embedded: see :func:`backend.text.embedded.embedding_text`. ``sentences``
    (:data:`SENTENCES`), where present, holds the text's sentence vectors, encoded at ingestion.
    """

    id: str
    dense: np.ndarray
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    score: float
    """The ranking score of the mode used: cosine (dense), BM25 (sparse) or fused rank (hybrid)."""
    relevance: float
    """Dense cosine between query and passage in every mode: comparable across queries, so thresholds
    and "nothing relevant found" decisions use this, never a fused rank score."""
    payload: dict[str, Any] = field(default_factory=dict)
    dense: np.ndarray | None = None
    """The stored dense vector (for near-duplicate collapsing)."""
    terms: frozenset[int] | None = None
    """The stored sparse vector's term ids (its keyword analysis, hashed), read with the hit: the
    keyword coverage looks the question's words up here instead of analysing the passage again."""


class VectorStore(Protocol):
    """One encoder's collection. Reads and writes always go to it (never through the alias), so a
    query vector only ever meets vectors of the model that made it; the alias names the base model's
    collection, which guards against a changed ``KBCHAT_ENCODER__MODEL``."""

    encoder_id: str
    dimension: int
    prefix: str
    alias: str
    collection: str

    def ensure_ready(self, *, adopt: Collection[str] = ()) -> None:
        """Create the base encoder's collection and the alias naming it if missing; check they match,
        so a changed ``KBCHAT_ENCODER__MODEL`` cannot silently search an empty collection. An alias
        naming one of ``adopt`` (a registered version's collection: the service-wide active encoder of
        releases before per-knowledge-base encoders) is moved to the base collection instead."""
        ...

    # -- collections (one per encoder; every knowledge base it serves shares it) -------------
    def sibling(self, *, encoder_id: str, dimension: int, kb_idf: bool = True) -> VectorStore:
        """A store for another encoder's collection in the same backend. ``kb_idf``: a collection created
        for it counts keyword IDF per knowledge base (False: Qdrant's modifier over the collection, as
        collections of keyword analyses before ``ml3`` were made); an existing one keeps how it was made."""
        ...

    def prepare(self) -> None:
        """Create this encoder's collection if missing, leaving the alias where it is."""
        ...

    def active_collection(self) -> str | None: ...

    def make_active(self) -> str | None:
        """Point the alias at this collection atomically; returns the previous target."""
        ...

    def collection_exists(self, name: str) -> bool: ...

    def drop(self) -> None:
        """Delete this collection."""
        ...

    def scan(
        self, *, kb_id: str | None = None, batch: int = 256, vectors: bool = True
    ) -> Iterator[list[ChunkRecord]]:
        """Every point (of one knowledge base, or all) with its payload, in batches; with both vectors
        unless ``vectors`` is False (then they are empty: a caller that needs only texts reads less)."""
        ...

    def size(self) -> int: ...

    def upsert(self, records: Sequence[ChunkRecord]) -> None: ...

    def search(
        self,
        *,
        kb_id: str,
        dense: np.ndarray,
        sparse: SparseVector,
        mode: SearchMode,
        limit: int,
        filters: SearchFilters | None = None,
        fusion: Fusion = Fusion(),
        hydrate: bool = True,
    ) -> list[Hit]:
        """Top ``limit`` hits; the first results never depend on ``limit`` (fixed candidate pool).
        ``sparse``'s values are per-term query weights (1 each from the keyword encoder): the store
        multiplies them by each term's IDF, counted over ``kb_id``'s points (or, in collections made
        before keyword analysis ``ml3``, over the whole collection by Qdrant). ``hydrate`` False: ids and
        scores only (empty payload, no vector, relevance 0), for candidate lists fused before anything is
        read; :meth:`hydrate` then reads the few that won."""
        ...

    def hydrate(self, hits: Sequence[Hit], dense: np.ndarray) -> list[Hit]:
        """``hits`` with their payload, dense vector and relevance to ``dense`` read from the store, in
        the same order with the same scores; a point deleted meanwhile is left out."""
        ...

    def neighbours(self, *, kb_id: str, document_id: str, first: int, last: int) -> list[dict[str, Any]]:
        """Payloads of the document's chunks with ``first <= chunk_index <= last``, in order, without
        their sentence vectors (context for a passage, the console's chunk view: text, not vectors)."""
        ...

    def delete_document(self, *, kb_id: str, document_id: str, keep_ids: Collection[str] = ()) -> None:
        """Delete the document's points, except ``keep_ids`` (the points of its current version)."""
        ...

    def document_vectors(self, *, kb_id: str, document_id: str) -> dict[str, StoredChunk]:
        """The document's stored dense and sentence vectors by ``text_hash``: the embedding cache for a
        re-ingest."""
        ...

    def inventory(self) -> dict[tuple[str, str], int]:
        """Point counts per (kb_id, document_id) over the whole active collection (for ``doctor``)."""
        ...

    def unsentenced(self, is_current: Callable[[object], bool]) -> dict[tuple[str, str], int]:
        """Point counts per (kb_id, document_id) whose sentence vectors' stamp (``model`` and ``v``, never
        the vectors) ``is_current`` refuses (for ``doctor``: backend/retrieval/stored_sentences.current)."""
        ...

    def delete_knowledge_base(self, *, kb_id: str) -> None: ...

    def languages(self, *, kb_id: str, limit: int = 8) -> dict[str, int]:
        """Chunks per language (the ``lang`` payload the keyword analysis used), most common first:
        the languages a question is also analysed in, so it meets the knowledge base's own stems."""
        ...

    def keyword_points(self, kb_id: str) -> int:
        """The points a search of ``kb_id`` counts its keyword IDF over: the knowledge base's own, or
        the whole collection's where Qdrant's modifier counts it (collections before ``ml3``)."""
        ...

    def count(
        self, *, kb_id: str, document_id: str | None = None, filters: SearchFilters | None = None
    ) -> int:
        """Points of one knowledge base: of one document when ``document_id`` is given, else those
        ``filters`` leave (as a search with them would see them)."""
        ...

    def ping(self) -> None:
        """Raise :class:`backend.errors.Unavailable` if the store cannot answer."""
        ...

    def close(self) -> None: ...
