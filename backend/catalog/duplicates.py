"""Near-duplicate documents: each new document compared with its knowledge base's others at ingestion,
and the knowledge base's clusters of near-duplicates on request.

A pair's score is backend.text.fingerprint.duplicate_score: the larger of text containment (MinHash of
word 3-grams) and the embedding cosine rescaled from 0.9. Fingerprints are compared only under the same
encoder (a cosine across two models means nothing; containment alone would still work, but a knowledge
base's documents share one encoder after every activation).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from backend.db.models import Document, DocumentFingerprint
from backend.errors import InvalidInput
from backend.text.fingerprint import DUPLICATE_THRESHOLD, PERMUTATIONS, containment, duplicate_score
from backend.vectorstore.base import VectorStore

MAX_EXHAUSTIVE = 1000
"""Up to this many documents every pair is scored; beyond, only pairs found by MinHash banding or by
a cosine over 0.9 (the score's other half) are."""
BANDS = 64
MIN_PASSAGE_CHARS = 80
"""Shorter repeated passages are boilerplate ("See also", a copyright line), not content to merge."""
MAX_PASSAGES_SCANNED = 200_000


@dataclass(frozen=True, slots=True)
class Fingerprints:
    """One knowledge base's fingerprints under one encoder, as arrays."""

    ids: list[str]
    vectors: np.ndarray  # (n, dim) float32, unit length
    minhash: np.ndarray  # (n, PERMUTATIONS) uint64
    shingles: np.ndarray  # (n,) int

    def scores(
        self,
        vector: np.ndarray,
        minhash: np.ndarray,
        shingles: int,
        rows: list[int] | slice | np.ndarray = slice(None),
    ) -> np.ndarray:
        """The duplicate score (backend.text.fingerprint.duplicate_score, vectorised) of ``rows`` against
        one fingerprint."""
        if not self.ids:
            return np.zeros(0)
        cosine = self.vectors[rows] @ vector
        jaccard = (self.minhash[rows] == minhash).mean(axis=1)
        scores: np.ndarray = duplicate_score(cosine, containment(jaccard, self.shingles[rows], shingles))
        return scores


def load(session: Session, kb_id: str, model_id: str) -> Fingerprints:
    rows = session.execute(
        select(
            DocumentFingerprint.document_id,
            DocumentFingerprint.vector,
            DocumentFingerprint.minhash,
            DocumentFingerprint.shingles,
        )
        .where(DocumentFingerprint.kb_id == kb_id, DocumentFingerprint.model_id == model_id)
        .order_by(DocumentFingerprint.document_id)
    ).all()
    if not rows:
        return Fingerprints(
            [], np.zeros((0, 0), np.float32), np.zeros((0, PERMUTATIONS), np.uint64), np.zeros(0, int)
        )
    return Fingerprints(
        [r[0] for r in rows],
        np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]),
        np.stack([np.frombuffer(r[2], dtype=np.uint64) for r in rows]),
        np.array([r[3] for r in rows]),
    )


def save(
    session: Session,
    document: Document,
    *,
    model_id: str,
    vector: np.ndarray,
    minhash: np.ndarray,
    shingles: int,
) -> None:
    row = session.get(DocumentFingerprint, document.id) or DocumentFingerprint(document_id=document.id)
    row.kb_id, row.model_id, row.shingles = document.kb_id, model_id, shingles
    row.vector, row.minhash = vector.astype(np.float32).tobytes(), minhash.astype(np.uint64).tobytes()
    session.add(row)


def flag(document: Document, best: tuple[str, str, float] | None) -> dict[str, Any] | None:
    """Record the document's closest near-duplicate (id, title, score) in its metadata, or clear it."""
    meta = dict(document.meta or {})
    if best is None:
        meta.pop("near_duplicate_of", None)
    else:
        meta["near_duplicate_of"] = {
            "document_id": best[0],
            "title": best[1],
            "similarity": round(best[2], 4),
        }
    document.meta = meta  # a new dict: the JSON column sees the change
    found: dict[str, Any] | None = meta.get("near_duplicate_of")
    return found


def forget(session: Session, kb_id: str, document_id: str) -> None:
    """Documents flagged as near-copies of ``document_id`` (at their ingestion) lose the flag with it."""
    flagged = session.scalars(
        select(Document).where(Document.kb_id == kb_id, cast(Document.meta, String).contains(document_id))
    )
    for other in flagged:
        if (other.near_duplicate_of or {}).get("document_id") == document_id:
            flag(other, None)


def titles(session: Session, kb_id: str) -> dict[str, str]:
    """Document id → title, for one knowledge base."""
    rows = session.execute(select(Document.id, Document.title).where(Document.kb_id == kb_id))
    return {row[0]: row[1] for row in rows}


def _pairs(prints: Fingerprints) -> set[tuple[int, int]]:
    """Candidate pairs for a large knowledge base: MinHash bands in common, or a cosine over 0.9."""
    n = len(prints.ids)
    found: set[tuple[int, int]] = set()
    rows = PERMUTATIONS // BANDS
    for band in range(BANDS):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        for i in range(n):
            buckets[prints.minhash[i, band * rows : (band + 1) * rows].tobytes()].append(i)
        for members in buckets.values():
            if 1 < len(members) <= 200:  # a huge bucket is boilerplate shared by everything
                found.update((a, b) for k, a in enumerate(members) for b in members[k + 1 :])
    for start in range(0, n, 512):
        block = prints.vectors[start : start + 512] @ prints.vectors.T
        for i, j in zip(*np.nonzero(block > 0.9), strict=True):
            if start + i < j:
                found.add((int(start + i), int(j)))
    return found


def clusters(
    session: Session,
    kb_id: str,
    model_id: str,
    titles: dict[str, str],
    *,
    threshold: float = DUPLICATE_THRESHOLD,
) -> list[dict[str, Any]]:
    """Groups of documents linked by a score at or above ``threshold``, each with its strongest pairs;
    ``titles``: the knowledge base's (:func:`titles`)."""
    if not 0 < threshold <= 1:
        raise InvalidInput("threshold must be in (0, 1]")
    prints = load(session, kb_id, model_id)
    n = len(prints.ids)
    by_first: dict[int, list[int]] = defaultdict(list)
    if n > MAX_EXHAUSTIVE:
        for i, j in _pairs(prints):
            by_first[i].append(j)
    else:
        by_first.update({i: list(range(i + 1, n)) for i in range(n - 1)})
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    linked: list[tuple[int, int, float]] = []
    for i, others in by_first.items():
        scores = prints.scores(prints.vectors[i], prints.minhash[i], int(prints.shingles[i]), others)
        for j, score in zip(others, scores, strict=True):
            if score >= threshold:
                linked.append((i, j, float(score)))
                parent[root(i)] = root(j)
    groups: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for i, j, score in linked:
        groups[root(i)].append((i, j, score))
    out: list[dict[str, Any]] = []
    for pairs in groups.values():
        members = sorted({k for i, j, _ in pairs for k in (i, j)}, key=lambda k: prints.ids[k])
        out.append(
            {
                "documents": [{"id": prints.ids[k], "title": titles.get(prints.ids[k], "")} for k in members],
                "pairs": [
                    {"a": prints.ids[i], "b": prints.ids[j], "similarity": round(score, 4)}
                    for i, j, score in sorted(pairs, key=lambda p: -p[2])[:50]
                ],
                "similarity": round(max(score for _, _, score in pairs), 4),
            }
        )
    return sorted(out, key=lambda c: (-len(c["documents"]), -float(c["similarity"])))


def repeated_passages(vectors: VectorStore, kb_id: str, titles: dict[str, str]) -> list[dict[str, Any]]:
    """Passages whose text (case and spacing aside) appears in more than one document, most repeated
    first (at most 200; the first MAX_PASSAGES_SCANNED passages are read, without their vectors)."""
    seen: dict[str, list[dict[str, Any]]] = defaultdict(list)
    texts: dict[str, str] = {}
    scanned = 0
    for batch in vectors.scan(kb_id=kb_id, vectors=False):
        for record in batch:
            text = " ".join(str(record.payload.get("text", "")).split())
            if len(text) < MIN_PASSAGE_CHARS:
                continue
            key = hashlib.sha256(text.lower().encode()).hexdigest()
            texts.setdefault(key, text)
            document_id = record.payload.get("document_id", "")
            seen[key].append(
                {
                    "document_id": document_id,
                    "title": titles.get(document_id, ""),
                    "chunk_index": record.payload.get("chunk_index"),
                }
            )
        scanned += len(batch)
        if scanned >= MAX_PASSAGES_SCANNED:
            break
    out: list[dict[str, Any]] = []
    for key, places in seen.items():
        if len({p["document_id"] for p in places}) > 1:
            ordered = sorted(places, key=lambda p: (str(p["title"]), int(p["chunk_index"] or 0)))
            out.append({"text": texts[key][:500], "places": ordered})
    return sorted(out, key=lambda c: -len(c["places"]))[:200]
