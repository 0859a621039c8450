"""Qdrant implementation of the vector-store seam, one code path for local mode and a server.

Layout: one collection per encoder version (``<prefix>_chunks_<encoder slug>``) holding the points
of every knowledge base, isolated by a ``kb_id`` tenant index. The alias ``<prefix>_chunks`` names
the active collection. A store instance reads and writes its *own* encoder's collection, never the
alias: a query vector can then only ever meet vectors of the model that made it, even while a
re-index switches the alias (atomically) to a new encoder's collection.

The connection and its errors: backend/vectorstore/qdrant_connection.py; how a collection is laid out:
backend/vectorstore/qdrant_schema.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from backend.vectorstore.alias import ensure_base_alias
from backend.vectorstore.base import (
    DENSE,
    SENTENCES,
    SPARSE,
    TERMS,
    UPSERT_BATCH,
    ChunkRecord,
    Fusion,
    Hit,
    SearchFilters,
    SearchMode,
    SparseVector,
    StoredChunk,
    collection_name,
)
from backend.vectorstore.cluster import ClusterSettings, dense_search_params
from backend.vectorstore.keyword_idf import KeywordStatistics
from backend.vectorstore.points import (
    REUSE_FIELDS,
    STAMP_FIELDS,
    count_by_document,
    stored_by_text_hash,
    to_hit,
    to_record,
    unsentenced_by_document,
)
from backend.vectorstore.qdrant_connection import translated
from backend.vectorstore.qdrant_schema import create_collection, made_with_kb_idf

log = logging.getLogger(__name__)
_CLIENT_USERS: dict[int, int] = {}
"""Stores per client: sibling stores (one per encoder version) share their client."""
_CLIENT_USERS_LOCK = threading.Lock()


def _kb_filter(kb_id: str, filters: SearchFilters | None = None) -> qm.Filter:
    """Every query and delete is scoped to one knowledge base first; metadata filters narrow it."""
    must: list[qm.Condition] = [qm.FieldCondition(key="kb_id", match=qm.MatchValue(value=kb_id))]
    if filters is not None:
        for key, values in (
            ("document_id", filters.document_ids),
            ("content_type", filters.content_types),
            ("tags", filters.tags),
        ):
            if values is not None:
                must.append(qm.FieldCondition(key=key, match=qm.MatchAny(any=list(values))))
        if filters.created_after is not None or filters.created_before is not None:
            must.append(
                qm.FieldCondition(
                    key="created_at", range=qm.Range(gte=filters.created_after, lte=filters.created_before)
                )
            )
    return qm.Filter(must=must)


_READ = qm.PayloadSelectorExclude(exclude=[TERMS])
"""What every read returns of a payload: all but the term ids kept for counting."""


def _document_filter(kb_id: str, document_id: str) -> qm.Filter:
    return _kb_filter(kb_id, SearchFilters(document_ids=[document_id]))


class QdrantVectorStore:
    def __init__(
        self,
        client: QdrantClient,
        *,
        prefix: str,
        encoder_id: str,
        dimension: int,
        candidate_pool: int = 100,
        cluster: ClusterSettings | None = None,
        kb_idf: bool = True,
    ) -> None:
        """``cluster``: a server collection's layout (shards, replicas, int8), used when one is created
        and for dense queries (backend/vectorstore/cluster.py). ``kb_idf``: a collection created here
        counts keyword IDF per knowledge base (backend/vectorstore/keyword_idf.py); an existing one keeps
        how it was made (its sparse vectors' modifier says)."""
        self.client = client
        self.cluster = cluster or ClusterSettings()
        self.encoder_id = encoder_id
        self.dimension = dimension
        self.prefix = prefix
        self._closed = False
        with _CLIENT_USERS_LOCK:
            _CLIENT_USERS[id(client)] = _CLIENT_USERS.get(id(client), 0) + 1
        self.alias = f"{prefix}_chunks"
        self.collection = collection_name(prefix, encoder_id)
        self.candidate_pool = candidate_pool
        self._create_kb_idf = kb_idf
        self._kb_idf: bool | None = None
        self._keyword_stats = KeywordStatistics(self._count_kb, self._count_term)

    @property
    def kb_idf(self) -> bool:
        """Whether this collection counts keyword IDF per knowledge base (collections made before keyword
        analysis ``ml3`` have Qdrant's modifier instead)."""
        if self._kb_idf is None:
            self.prepare()
            with translated("read the collection's configuration"):
                self._kb_idf = made_with_kb_idf(self.client, self.collection)
        return self._kb_idf

    # -- lifecycle ---------------------------------------------------------------------------
    def ensure_ready(self, *, adopt: Collection[str] = ()) -> None:
        with translated("prepare the collection"):
            ensure_base_alias(self, adopt=adopt)

    def sibling(self, *, encoder_id: str, dimension: int, kb_idf: bool = True) -> QdrantVectorStore:
        """A store for another encoder's collection on the same client (a re-index target)."""
        return QdrantVectorStore(
            self.client,
            prefix=self.prefix,
            encoder_id=encoder_id,
            dimension=dimension,
            candidate_pool=self.candidate_pool,
            cluster=self.cluster,
            kb_idf=kb_idf,
        )

    def prepare(self) -> None:
        """Create this encoder's collection if missing, leaving the alias where it is."""
        with translated("prepare the collection"):
            if not self.client.collection_exists(self.collection):
                create_collection(
                    self.client,
                    self.collection,
                    encoder_id=self.encoder_id,
                    dimension=self.dimension,
                    cluster=self.cluster,
                    kb_idf=self._create_kb_idf,
                )

    def active_collection(self) -> str | None:
        with translated("read the aliases"):
            aliases = {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}
        return aliases.get(self.alias)

    def make_active(self) -> str | None:
        """Point the alias at this collection in one atomic operation; returns the previous target."""
        previous = self.active_collection()
        operations: list[qm.AliasOperations] = []
        if previous is not None:
            operations.append(qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=self.alias)))
        operations.append(
            qm.CreateAliasOperation(
                create_alias=qm.CreateAlias(collection_name=self.collection, alias_name=self.alias)
            )
        )
        with translated("switch the alias"):
            self.client.update_collection_aliases(change_aliases_operations=operations)
        log.info("alias %s: %s -> %s", self.alias, previous, self.collection)
        return previous

    def size(self) -> int:
        """Points in this collection, over every knowledge base."""
        with translated("count vectors"):
            return self.client.count(self.collection, exact=True).count

    def collection_exists(self, name: str) -> bool:
        with translated("look up a collection"):
            return self.client.collection_exists(name)

    def drop(self) -> None:
        """Delete this encoder's collection (after a switch, the old one)."""
        with translated("delete a collection"):
            if self.client.collection_exists(self.collection):
                self.client.delete_collection(self.collection)
                log.info("collection %s deleted", self.collection)
        self._kb_idf = None  # a collection made again here is made as this store makes them
        self._keyword_stats.forget()

    def scan(
        self, *, kb_id: str | None = None, batch: int = 256, vectors: bool = True
    ) -> Iterator[list[ChunkRecord]]:
        """Every point of this collection (or of one knowledge base), both vectors and payload, in batches."""
        offset = None
        flt = _kb_filter(kb_id) if kb_id else None
        while True:
            with translated("read points"):
                points, offset = self.client.scroll(
                    self.collection,
                    scroll_filter=flt,
                    limit=batch,
                    offset=offset,
                    with_payload=_READ,
                    with_vectors=vectors,
                )
            records = [to_record(p) for p in points]
            if records:
                yield records
            if offset is None:
                return

    def ping(self) -> None:
        with translated("answer a health check"):
            self.client.get_aliases()

    def close(self) -> None:
        """Release this store; the client closes with the last store that shares it (siblings do)."""
        if self._closed:
            return
        self._closed = True
        with _CLIENT_USERS_LOCK:
            _CLIENT_USERS[id(self.client)] -= 1
            last = _CLIENT_USERS[id(self.client)] == 0
            if last:
                del _CLIENT_USERS[id(self.client)]
        if last:
            self.client.close()

    # -- writes ------------------------------------------------------------------------------
    def upsert(self, records: Sequence[ChunkRecord]) -> None:
        kb_idf = self.kb_idf
        with translated("store vectors"):
            for start in range(0, len(records), UPSERT_BATCH):
                batch = records[start : start + UPSERT_BATCH]
                points = [
                    qm.PointStruct(
                        id=r.id,
                        vector={
                            DENSE: r.dense.tolist(),
                            SPARSE: qm.SparseVector(indices=r.sparse.indices, values=r.sparse.values),
                        },
                        payload=r.payload | {TERMS: list(r.sparse.indices)} if kb_idf else r.payload,
                    )
                    for r in batch
                ]
                self.client.upsert(self.collection, points=points, wait=True)
        for kb_id in {r.payload.get("kb_id") for r in records}:
            self._keyword_stats.forget(kb_id)

    def delete_document(self, *, kb_id: str, document_id: str, keep_ids: Collection[str] = ()) -> None:
        selector = _document_filter(kb_id, document_id)
        if keep_ids:
            selector.must_not = [qm.HasIdCondition(has_id=list(keep_ids))]
        with translated("delete a document's vectors"):
            self.client.delete(self.collection, points_selector=qm.FilterSelector(filter=selector), wait=True)
        self._keyword_stats.forget(kb_id)

    def delete_knowledge_base(self, *, kb_id: str) -> None:
        with translated("delete a knowledge base's vectors"):
            self.client.delete(
                self.collection, points_selector=qm.FilterSelector(filter=_kb_filter(kb_id)), wait=True
            )
        self._keyword_stats.forget(kb_id)

    # -- reads -------------------------------------------------------------------------------
    def languages(self, *, kb_id: str, limit: int = 8) -> dict[str, int]:
        with translated("count languages"):
            response = self.client.facet(
                self.collection, "lang", facet_filter=_kb_filter(kb_id), limit=limit, exact=True
            )
        return {str(h.value): h.count for h in response.hits}

    def keyword_points(self, kb_id: str) -> int:
        return self._keyword_stats.points(kb_id) if self.kb_idf else self.size()

    def _count_kb(self, kb_id: str) -> int:
        with translated("count vectors"):
            return self.client.count(self.collection, count_filter=_kb_filter(kb_id), exact=True).count

    def _count_term(self, kb_id: str, term: int) -> int:
        holding = qm.FieldCondition(key=TERMS, match=qm.MatchValue(value=term))
        flt = qm.Filter(must=[_kb_filter(kb_id), holding])
        with translated("count a keyword"):
            return self.client.count(self.collection, count_filter=flt, exact=True).count

    def count(
        self, *, kb_id: str, document_id: str | None = None, filters: SearchFilters | None = None
    ) -> int:
        flt = _document_filter(kb_id, document_id) if document_id else _kb_filter(kb_id, filters)
        with translated("count vectors"):
            return self.client.count(self.collection, count_filter=flt, exact=True).count

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
        flt = _kb_filter(kb_id, filters)
        if mode is not SearchMode.DENSE and self.kb_idf:
            sparse = self._keyword_stats.weigh(kb_id, sparse)
        dense_query = dense.tolist()
        sparse_query = qm.SparseVector(indices=sparse.indices, values=sparse.values)
        pool = max(limit, self.candidate_pool)  # fixed pool: top_k never changes the first results' order
        query: list[float] | qm.SparseVector | qm.RrfQuery
        prefetch: list[qm.Prefetch] | None = None
        using: str | None = None
        params = dense_search_params(self.cluster)
        if mode is SearchMode.DENSE:
            query, using = dense_query, DENSE
        elif mode is SearchMode.SPARSE:
            if not sparse.indices:
                return []
            query, using = sparse_query, SPARSE
        else:
            prefetch = [qm.Prefetch(query=dense_query, using=DENSE, filter=flt, limit=pool, params=params)]
            weights = [fusion.dense_weight]
            if sparse.indices:
                prefetch.append(qm.Prefetch(query=sparse_query, using=SPARSE, filter=flt, limit=pool))
                weights.append(fusion.sparse_weight)
            query = qm.RrfQuery(rrf=qm.Rrf(k=fusion.k, weights=weights))
        with translated("search"):
            response = self.client.query_points(
                self.collection,
                query=query,
                using=using,
                prefetch=prefetch,
                query_filter=flt,
                search_params=params if mode is SearchMode.DENSE else None,
                limit=limit,
                with_payload=_READ if hydrate else False,
                with_vectors=[DENSE, SPARSE] if hydrate else False,
            )
        if not hydrate:
            return [Hit(str(p.id), float(p.score), 0.0) for p in response.points]
        return [to_hit(p, dense) for p in response.points]

    def hydrate(self, hits: Sequence[Hit], dense: np.ndarray) -> list[Hit]:
        if not hits:
            return []
        with translated("read search hits"):
            points = self.client.retrieve(
                self.collection, [h.id for h in hits], with_payload=_READ, with_vectors=[DENSE, SPARSE]
            )
        records = {str(p.id): p for p in points}
        return [to_hit(records[h.id], dense, h.score) for h in hits if h.id in records]

    def neighbours(self, *, kb_id: str, document_id: str, first: int, last: int) -> list[dict[str, Any]]:
        in_range = qm.FieldCondition(key="chunk_index", range=qm.Range(gte=first, lte=last))
        flt = qm.Filter(must=[_document_filter(kb_id, document_id), in_range])
        with translated("read neighbouring chunks"):
            points, _ = self.client.scroll(
                self.collection,
                scroll_filter=flt,
                limit=last - first + 1,
                with_payload=qm.PayloadSelectorExclude(exclude=[SENTENCES, TERMS]),
            )
        return sorted((p.payload or {} for p in points), key=lambda p: p.get("chunk_index", 0))

    def document_vectors(self, *, kb_id: str, document_id: str) -> dict[str, StoredChunk]:
        with translated("read a document's vectors"):
            return stored_by_text_hash(
                self._scroll(_document_filter(kb_id, document_id), REUSE_FIELDS, [DENSE])
            )

    def inventory(self) -> dict[tuple[str, str], int]:
        with translated("list stored documents"):
            return count_by_document(self._scroll(None, ["kb_id", "document_id"], False))

    def unsentenced(self, is_current: Callable[[object], bool]) -> dict[tuple[str, str], int]:
        with translated("list stored sentence vectors"):
            return unsentenced_by_document(self._scroll(None, STAMP_FIELDS, False), is_current)

    def _scroll(
        self, flt: qm.Filter | None, fields: list[str], vectors: bool | list[str]
    ) -> Iterator[qm.Record]:
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.collection,
                scroll_filter=flt,
                limit=1024,
                offset=offset,
                with_payload=qm.PayloadSelectorInclude(include=fields),
                with_vectors=vectors,
            )
            yield from points
            if offset is None:
                return
