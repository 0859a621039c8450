"""Near-duplicate check at ingestion: each document stored in a batch gets its fingerprint, is compared
with its knowledge base's other documents (and the batch's earlier ones), and is flagged with the
closest one at or above the threshold (``meta.near_duplicate_of``: id, title, similarity; shown by the
document view and the job's result). In a transaction of its own, right after the one that marks the
documents ready: a fault here never holds back their ingestion."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import duplicates
from backend.db.models import Document
from backend.text.fingerprint import DUPLICATE_THRESHOLD, minhash, shingle_hashes
from backend.vectorstore.base import ChunkRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stored:
    document_id: str
    model_id: str
    texts: Sequence[str]
    records: Sequence[ChunkRecord]


def _fingerprint(item: Stored) -> tuple[np.ndarray, np.ndarray, int]:
    mean = np.mean(np.stack([r.dense for r in item.records]), axis=0).astype(np.float32)
    hashes = shingle_hashes("\n".join(item.texts))
    return mean / max(float(np.linalg.norm(mean)), 1e-12), minhash(hashes), int(hashes.size)


def check(session: Session, stored: Sequence[Stored]) -> dict[str, dict[str, Any] | None]:
    """Fingerprint, compare and flag every stored document; its flag (or None) by document id. The
    knowledge base's fingerprints are read once per batch; the batch's own documents are compared with
    each other from a short list beside them (none of the stored arrays is copied per document)."""
    out: dict[str, dict[str, Any] | None] = {}
    loaded: dict[tuple[str, str], duplicates.Fingerprints] = {}
    batch: dict[tuple[str, str], list[tuple[str, np.ndarray, np.ndarray, int]]] = {}
    for item in stored:
        document = session.get(Document, item.document_id)
        if not item.records or document is None:
            continue
        key = (document.kb_id, item.model_id)
        if key not in loaded:
            loaded[key] = duplicates.load(session, *key)
        earlier = batch.setdefault(key, [])
        vector, signature, size = _fingerprint(item)
        renewed = {document.id, *(entry[0] for entry in earlier)}  # stored prints these replace
        candidates: list[tuple[str, float]] = []
        prints = loaded[key]
        if prints.ids:
            keep = np.array([doc_id not in renewed for doc_id in prints.ids])
            scores = prints.scores(vector, signature, size, keep)
            ids = [doc_id for doc_id, kept in zip(prints.ids, keep, strict=True) if kept]
            candidates += zip(ids, scores.tolist(), strict=True)
        if earlier:
            mine = duplicates.Fingerprints(
                [e[0] for e in earlier],
                np.stack([e[1] for e in earlier]),
                np.stack([e[2] for e in earlier]),
                np.array([e[3] for e in earlier]),
            )
            candidates += zip(mine.ids, mine.scores(vector, signature, size).tolist(), strict=True)
        best = None
        if candidates:
            other, score = max(candidates, key=lambda c: c[1])
            if score >= DUPLICATE_THRESHOLD:
                other_doc = session.get(Document, other)
                best = (other, other_doc.title if other_doc is not None else "", float(score))
        out[document.id] = duplicates.flag(document, best)
        duplicates.save(
            session, document, model_id=item.model_id, vector=vector, minhash=signature, shingles=size
        )
        earlier.append((document.id, vector, signature, size))
    return out


def flag_near_duplicates(
    sessions: sessionmaker[Session], stored: Sequence[Stored]
) -> dict[str, dict[str, Any] | None]:
    """:func:`check` in a transaction of its own; a fault is logged, the documents stay ready, unflagged."""
    if not stored:
        return {}
    try:
        with sessions.begin() as session:
            return check(session, stored)
    except Exception:
        log.exception(
            "the near-duplicate check of %d documents failed; they are ingested unflagged", len(stored)
        )
        return {}
