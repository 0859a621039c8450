"""Qdrant Edge implementation of the vector-store seam: the embedded default.

Qdrant Edge (``qdrant-edge-py``) is Qdrant's own engine in-process: HNSW, payload indexes, sparse
vectors with IDF, prefetch + fusion, a write-ahead log. qdrant-client's local mode, the previous
embedded default, is a brute-force Python store meant for tests (a 100k-chunk hybrid query takes
seconds there). This module and the shard's layout (backend/vectorstore/edge_schema.py) are the only
ones that import ``qdrant_edge`` at run time; the version is pinned in pyproject.toml because Edge is
beta, so an upgrade touches these files alone.

Layout under ``<data dir>/edge/``: one shard directory per encoder version (named like the server's
collections, ``<prefix>_chunks_<encoder>``) and ``aliases.json``, which plays the server's alias: it
names the active shard and is replaced atomically (write, fsync, rename). A lock file keeps a second
process out, with an error that says what to do: Edge, like SQLite, belongs to one process (the lock,
the open shards and the alias file: backend/vectorstore/edge_home.py).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from backend.errors import KbchatError, Unavailable
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
from backend.vectorstore.edge_home import EdgeHome
from backend.vectorstore.edge_schema import create_shard, made_with_kb_idf
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

log = logging.getLogger(__name__)
OPTIMIZE_EVERY = 20_000
"""Points written between index builds (run by a background thread; search never waits for it)."""

_READ = qe.PayloadSelector.Exclude([TERMS])
"""What every read returns of a payload: all but the term ids kept for counting."""


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except KbchatError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:  # Edge raises these for I/O and bad requests
        raise Unavailable(f"the embedded vector store could not {action}: {exc}") from exc


def _filter(kb_id: str | None, filters: SearchFilters | None = None, **extra: Any) -> qe.Filter | None:
    must: list[Any] = []
    if kb_id is not None:
        must.append(qe.FieldCondition("kb_id", match=qe.MatchValue(kb_id)))
    if filters is not None:
        for key, values in (
            ("document_id", filters.document_ids),
            ("content_type", filters.content_types),
            ("tags", filters.tags),
        ):
            if values is not None:
                must.append(qe.FieldCondition(key, match=qe.MatchAny(list(values))))
        if filters.created_after is not None or filters.created_before is not None:
            must.append(
                qe.FieldCondition(
                    "created_at", range=qe.RangeFloat(gte=filters.created_after, lte=filters.created_before)
                )
            )
    for key, value in extra.items():
        must.append(qe.FieldCondition(key, match=qe.MatchValue(value)))
    return qe.Filter(must=must) if must else None


class EdgeVectorStore:
    def __init__(
        self,
        root: Path,
        *,
        prefix: str,
        encoder_id: str,
        dimension: int,
        candidate_pool: int = 100,
        indexing_threshold_kb: int | None = None,
        hnsw_ef: int = 256,
        kb_idf: bool = True,
    ) -> None:
        """``kb_idf``: a shard created here counts keyword IDF per knowledge base
        (backend/vectorstore/keyword_idf.py); an existing shard keeps how it was made (``kbchat.json``).
        ``indexing_threshold_kb``: segment size above which Edge builds HNSW (its default when None;
        tests lower it to exercise the index on small data). ``hnsw_ef``: the search beam; 256 keeps
        recall@10 at or above 0.95 at 100k points (bench/vector_backends.py) for about 1 ms more."""
        self.hnsw_ef = hnsw_ef
        self.indexing_threshold_kb = indexing_threshold_kb
        self.root = root
        self.prefix = prefix
        self.encoder_id = encoder_id
        self.dimension = dimension
        self.alias = f"{prefix}_chunks"
        self.collection = collection_name(prefix, encoder_id)
        self.candidate_pool = candidate_pool
        self._home = EdgeHome.open(root)
        self._closed = False
        self._written = 0
        self._optimizing = threading.Lock()
        self._create_kb_idf = kb_idf
        self._kb_idf: bool | None = None
        self._keyword_stats = KeywordStatistics(self._count_kb, self._count_term)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def _shard(self) -> qe.EdgeShard:
        with self._home.lock:
            shard = self._home.shards.get(self.collection)
            if shard is None:
                path = self.root / self.collection
                with _translated("open its shard"):
                    shard = qe.EdgeShard.load(str(path)) if path.exists() else self._create(path)
                self._home.shards[self.collection] = shard
            return shard

    @property
    def kb_idf(self) -> bool:
        """Whether this shard counts keyword IDF per knowledge base (shards made before keyword analysis
        ``ml3`` have Qdrant's modifier instead)."""
        if self._kb_idf is None:
            _ = self._shard
            self._kb_idf = made_with_kb_idf(self.root / self.collection)
        return self._kb_idf

    def _create(self, path: Path) -> qe.EdgeShard:
        return create_shard(
            path,
            encoder_id=self.encoder_id,
            dimension=self.dimension,
            kb_idf=self._create_kb_idf,
            indexing_threshold_kb=self.indexing_threshold_kb,
        )

    def ensure_ready(self, *, adopt: Collection[str] = ()) -> None:
        ensure_base_alias(self, adopt=adopt)

    def prepare(self) -> None:
        _ = self._shard

    def sibling(self, *, encoder_id: str, dimension: int, kb_idf: bool = True) -> EdgeVectorStore:
        return EdgeVectorStore(
            self.root,
            prefix=self.prefix,
            encoder_id=encoder_id,
            dimension=dimension,
            candidate_pool=self.candidate_pool,
            indexing_threshold_kb=self.indexing_threshold_kb,
            hnsw_ef=self.hnsw_ef,
            kb_idf=kb_idf,
        )

    def active_collection(self) -> str | None:
        return self._home.aliases().get(self.alias)

    def make_active(self) -> str | None:
        previous = self.active_collection()
        self._shard.flush()  # the alias must never name a shard whose points are not on disk
        self._home.set_alias(self.alias, self.collection)
        log.info("alias %s: %s -> %s", self.alias, previous, self.collection)
        return previous

    def collection_exists(self, name: str) -> bool:
        return (self.root / name).is_dir()

    def drop(self) -> None:
        with self._home.lock:
            shard = self._home.shards.pop(self.collection, None)
            if shard is not None:
                shard.close()
            path = self.root / self.collection
            if path.exists():
                shutil.rmtree(path)
                log.info("Edge shard %s deleted", path)
        self._kb_idf = None  # a shard made again here is made as this store makes them
        self._keyword_stats.forget()

    def ping(self) -> None:
        with _translated("answer a health check"):
            self._shard.count(qe.CountRequest(exact=False))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._home.release()

    def optimize(self) -> bool:
        """Build the HNSW and payload indexes for what was written since the last build."""
        with self._optimizing, _translated("build its indexes"):
            return self._shard.optimize()

    # -- writes ------------------------------------------------------------------------------
    def upsert(self, records: Sequence[ChunkRecord]) -> None:
        kb_idf = self.kb_idf
        with _translated("store vectors"):
            for start in range(0, len(records), UPSERT_BATCH):
                points = [
                    qe.Point(
                        r.id,
                        {
                            DENSE: r.dense.tolist(),
                            SPARSE: qe.SparseVector(list(r.sparse.indices), list(r.sparse.values)),
                        },
                        r.payload | {TERMS: list(r.sparse.indices)} if kb_idf else r.payload,
                    )
                    for r in records[start : start + UPSERT_BATCH]
                ]
                self._shard.update(qe.UpdateOperation.upsert_points(points))
            self._shard.flush()
        for kb_id in {r.payload.get("kb_id") for r in records}:
            self._keyword_stats.forget(kb_id)
        self._written += len(records)
        if self._written >= OPTIMIZE_EVERY and not self._optimizing.locked():
            self._written = 0
            threading.Thread(target=self._optimize_quietly, name="edge-optimize", daemon=True).start()

    def _optimize_quietly(self) -> None:
        try:
            if self.optimize():
                log.info("Edge shard %s: indexes rebuilt", self.collection)
        except Exception:
            log.exception("building the Edge indexes failed; search stays correct, only slower")

    def _delete(self, kb_id: str, flt: qe.Filter | None) -> None:
        if flt is None:
            return
        with _translated("delete vectors"):
            self._shard.update(qe.UpdateOperation.delete_points_by_filter(flt))
            self._shard.flush()
        self._keyword_stats.forget(kb_id)

    def delete_document(self, *, kb_id: str, document_id: str, keep_ids: Collection[str] = ()) -> None:
        flt = _filter(kb_id, document_id=document_id)
        if keep_ids and flt is not None:
            flt = qe.Filter(must=flt.must, must_not=[qe.HasIdCondition(set(keep_ids))])
        self._delete(kb_id, flt)

    def delete_knowledge_base(self, *, kb_id: str) -> None:
        self._delete(kb_id, _filter(kb_id))

    # -- reads -------------------------------------------------------------------------------
    def languages(self, *, kb_id: str, limit: int = 8) -> dict[str, int]:
        request = qe.FacetRequest("lang", limit=limit, exact=True, filter=_filter(kb_id))
        with _translated("count languages"):
            hits = self._shard.facet(request).hits
        return {str(h.value): h.count for h in hits}

    def count(
        self, *, kb_id: str, document_id: str | None = None, filters: SearchFilters | None = None
    ) -> int:
        flt = _filter(kb_id, document_id=document_id) if document_id else _filter(kb_id, filters)
        with _translated("count vectors"):
            return self._shard.count(qe.CountRequest(exact=True, filter=flt))

    def size(self) -> int:
        with _translated("count vectors"):
            return self._shard.count(qe.CountRequest(exact=True))

    def keyword_points(self, kb_id: str) -> int:
        return self._keyword_stats.points(kb_id) if self.kb_idf else self.size()

    def _count_kb(self, kb_id: str) -> int:
        with _translated("count vectors"):
            return self._shard.count(qe.CountRequest(exact=True, filter=_filter(kb_id)))

    def _count_term(self, kb_id: str, term: int) -> int:
        holding = _filter(kb_id, None, **{TERMS: term})
        with _translated("count a keyword"):
            return self._shard.count(qe.CountRequest(exact=True, filter=holding))

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
        flt = _filter(kb_id, filters)
        if mode is not SearchMode.DENSE and self.kb_idf:
            sparse = self._keyword_stats.weigh(kb_id, sparse)
        dense_query = qe.Query.Nearest(dense.tolist(), using=DENSE)
        params = qe.SearchParams(hnsw_ef=self.hnsw_ef)
        sparse_query = qe.Query.Nearest(
            qe.SparseVector(list(sparse.indices), list(sparse.values)), using=SPARSE
        )
        pool = max(limit, self.candidate_pool)
        # Always the whole pool, then ties broken by id: Edge's top-k heap orders equal scores
        # differently for different limits, and top_k must never reorder the first results. The pool
        # comes back as ids and scores only; payloads and vectors are read for the top ``limit``.
        common: dict[str, Any] = {"limit": pool, "with_payload": False, "with_vector": False}
        if mode is SearchMode.DENSE:
            request = qe.QueryRequest(query=dense_query, filter=flt, params=params, **common)
        elif mode is SearchMode.SPARSE:
            if not sparse.indices:
                return []
            request = qe.QueryRequest(query=sparse_query, filter=flt, **common)
        else:
            prefetches = [qe.Prefetch(limit=pool, query=dense_query, filter=flt, params=params)]
            weights = [fusion.dense_weight]
            if sparse.indices:
                prefetches.append(qe.Prefetch(limit=pool, query=sparse_query, filter=flt))
                weights.append(fusion.sparse_weight)
            # The package's stub types Fusion.Rrf(...) as its own class, not the Fusion it builds at run time.
            rrf: Any = qe.Fusion.Rrf(k=fusion.k, weights=weights)
            request = qe.QueryRequest(prefetches=prefetches, query=rrf, filter=flt, **common)
        with _translated("search"):
            points = self._shard.query(request)
        # Each id made a string once (UUID.__str__ in the sort key was a third of this call's time).
        scored = sorted(((str(p.id), float(p.score)) for p in points), key=lambda t: (-t[1], t[0]))
        ranked = [Hit(pid, score, 0.0) for pid, score in scored[:limit]]
        return self.hydrate(ranked, dense) if hydrate else ranked

    def hydrate(self, hits: Sequence[Hit], dense: np.ndarray) -> list[Hit]:
        if not hits:
            return []
        with _translated("read search hits"):
            records = {
                str(r.id): r
                for r in self._shard.retrieve(
                    [h.id for h in hits], with_payload=_READ, with_vector=[DENSE, SPARSE]
                )
            }
        return [to_hit(records[h.id], dense, h.score) for h in hits if h.id in records]

    def neighbours(self, *, kb_id: str, document_id: str, first: int, last: int) -> list[dict[str, Any]]:
        base = _filter(kb_id, document_id=document_id)
        must = [
            *(base.must if base is not None and base.must else []),
            qe.FieldCondition("chunk_index", range=qe.RangeFloat(gte=first, lte=last)),
        ]
        with _translated("read neighbouring chunks"):
            points, _ = self._shard.scroll(
                qe.ScrollRequest(
                    limit=last - first + 1,
                    filter=qe.Filter(must=must),
                    with_payload=qe.PayloadSelector.Exclude([SENTENCES, TERMS]),
                )
            )
        return sorted((p.payload or {} for p in points), key=lambda p: p.get("chunk_index", 0))

    def document_vectors(self, *, kb_id: str, document_id: str) -> dict[str, StoredChunk]:
        return stored_by_text_hash(
            self._scroll(_filter(kb_id, document_id=document_id), REUSE_FIELDS, [DENSE])
        )

    def inventory(self) -> dict[tuple[str, str], int]:
        return count_by_document(self._scroll(None, ["kb_id", "document_id"], False))

    def unsentenced(self, is_current: Callable[[object], bool]) -> dict[tuple[str, str], int]:
        return unsentenced_by_document(self._scroll(None, STAMP_FIELDS, False), is_current)

    def scan(
        self, *, kb_id: str | None = None, batch: int = 256, vectors: bool = True
    ) -> Iterator[list[ChunkRecord]]:
        records: list[ChunkRecord] = []
        for point in self._scroll(_filter(kb_id) if kb_id else None, None, vectors, batch):
            records.append(to_record(point))
            if len(records) == batch:
                yield records
                records = []
        if records:
            yield records

    def _scroll(
        self, flt: qe.Filter | None, fields: list[str] | None, vectors: bool | list[str], batch: int = 1024
    ) -> Iterator[Any]:
        offset = None
        with_payload: Any = qe.PayloadSelector.Include(fields) if fields is not None else _READ
        while True:
            with _translated("read points"):
                points, offset = self._shard.scroll(
                    qe.ScrollRequest(
                        offset=offset, limit=batch, filter=flt, with_payload=with_payload, with_vector=vectors
                    )
                )
            yield from points
            if offset is None:
                return
