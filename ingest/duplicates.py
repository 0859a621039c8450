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


def check(session: Session, stored: Sequence[Stored]) -> dict[str, dict[str, Any] | None]:
    """Fingerprint, compare and flag every stored document; its flag (or None) by document id."""
    out: dict[str, dict[str, Any] | None] = {}
    known: dict[tuple[str, str], duplicates.Fingerprints] = {}
    for item in stored:
        document = session.get(Document, item.document_id)
        if not item.records or document is None:
            continue
        key = (document.kb_id, item.model_id)
        if key not in known:
            known[key] = duplicates.load(session, *key)
        prints = known[key]
        mean = np.mean(np.stack([r.dense for r in item.records]), axis=0).astype(np.float32)
        vector = mean / max(float(np.linalg.norm(mean)), 1e-12)
        hashes = shingle_hashes("\n".join(item.texts))
        signature = minhash(hashes)
        others = [i for i, doc_id in enumerate(prints.ids) if doc_id != document.id]
        best = None
        if others:
            scores = prints.scores(vector, signature, int(hashes.size), others)
            top = int(np.argmax(scores))
            if scores[top] >= DUPLICATE_THRESHOLD:
                other = prints.ids[others[top]]
                other_doc = session.get(Document, other)
                best = (other, other_doc.title if other_doc is not None else "", float(scores[top]))
        out[document.id] = duplicates.flag(document, best)
        duplicates.save(
            session,
            document,
            model_id=item.model_id,
            vector=vector,
            minhash=signature,
            shingles=int(hashes.size),
        )
        known[key] = duplicates.Fingerprints(
            [*[d for d in prints.ids if d != document.id], document.id],
            np.vstack([prints.vectors[others], vector[None, :]]) if others else vector[None, :],
            np.vstack([prints.minhash[others], signature[None, :]]) if others else signature[None, :],
            np.append(prints.shingles[others], hashes.size),
        )
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
