"""Points as both Qdrant engines return them, turned into our types, written once.

qdrant-client's ``Record``/``ScoredPoint`` and Qdrant Edge's ``Record``/``ScoredPoint`` share a shape:
``id``, ``payload`` and ``vector`` (a dict of named vectors: a dense list, a sparse object with
``indices`` and ``values``). The stores hand their results here, so a hit's relevance, a re-index
record or the doctor's inventory mean the same thing whichever engine produced them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from backend.vectorstore.base import DENSE, SENTENCES, SPARSE, ChunkRecord, Hit, SparseVector, StoredChunk


def _named(point: Any) -> dict[str, Any]:
    return point.vector if isinstance(point.vector, dict) else {}


def _dense(point: Any) -> np.ndarray | None:
    stored = _named(point).get(DENSE)
    return np.asarray(stored, dtype=np.float32) if stored is not None else None


def _sparse(point: Any) -> tuple[Any, Any]:
    """The stored sparse vector's (indices, values), or (None, None) when it was not read."""
    sparse = _named(point).get(SPARSE)  # qdrant-client's and Edge's classes differ: read by duck typing
    return getattr(sparse, "indices", None), getattr(sparse, "values", None)


def to_hit(point: Any, query: np.ndarray, score: float | None = None) -> Hit:
    """A search result; ``relevance`` is the dense cosine with the query, in every search mode."""
    vector = _dense(point)
    relevance = float(np.dot(vector, query)) if vector is not None else 0.0
    indices, _ = _sparse(point)
    return Hit(
        str(point.id),
        float(point.score if score is None else score),
        relevance,
        point.payload or {},
        vector,
        frozenset(indices) if indices is not None else None,
    )


def to_record(point: Any) -> ChunkRecord:
    """A stored point, both vectors and payload (what a re-index copies)."""
    indices, values = _sparse(point)
    dense = _dense(point)
    return ChunkRecord(
        str(point.id),
        dense if dense is not None else np.zeros(0, dtype=np.float32),
        SparseVector(list(indices), [float(v) for v in values])
        if indices is not None and values is not None
        else SparseVector([], []),
        point.payload or {},
    )


REUSE_FIELDS = ["text_hash", SENTENCES]
"""The payload fields :func:`stored_by_text_hash` reads."""


def stored_by_text_hash(points: Iterable[Any]) -> dict[str, StoredChunk]:
    """Dense and sentence vectors keyed by the ``text_hash`` of the text they embed: the re-ingest
    cache (points read with :data:`REUSE_FIELDS` and the dense vector)."""
    out: dict[str, StoredChunk] = {}
    for point in points:
        payload = point.payload or {}
        key, vector, sentences = payload.get("text_hash"), _dense(point), payload.get(SENTENCES)
        if key and vector is not None:
            out[key] = StoredChunk(vector, sentences if isinstance(sentences, dict) else None)
    return out


STAMP_FIELDS = ["kb_id", "document_id", f"{SENTENCES}.model", f"{SENTENCES}.v"]
"""What :func:`unsentenced_by_document` reads of a point: the sentence vectors' stamp, never the vectors."""


def unsentenced_by_document(
    points: Iterable[Any], is_current: Callable[[object], bool]
) -> dict[tuple[str, str], int]:
    """Points per (kb_id, document_id) whose stored sentence vectors' stamp ``is_current`` refuses
    (missing, another encoder's, another splitter's; points read with :data:`STAMP_FIELDS`)."""
    counts: dict[tuple[str, str], int] = {}
    for point in points:
        payload = point.payload or {}
        if is_current(payload.get(SENTENCES)):
            continue
        key = (str(payload.get("kb_id")), str(payload.get("document_id")))
        counts[key] = counts.get(key, 0) + 1
    return counts


def count_by_document(points: Iterable[Any]) -> dict[tuple[str, str], int]:
    """Points per (kb_id, document_id)."""
    counts: dict[tuple[str, str], int] = {}
    for point in points:
        payload = point.payload or {}
        key = (str(payload.get("kb_id")), str(payload.get("document_id")))
        counts[key] = counts.get(key, 0) + 1
    return counts
