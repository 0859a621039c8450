"""/v1/knowledge-bases/{kb_id}/duplicates: clusters of near-duplicate documents (and passages repeated
across documents), so the people who own the content can clean up what competes in retrieval."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from backend.api.deps import ServicesDep
from backend.catalog import duplicates
from backend.catalog import knowledge_bases as kbs
from backend.db.models import Document
from backend.text.fingerprint import DUPLICATE_THRESHOLD

router = APIRouter(prefix="/knowledge-bases/{kb_id}", tags=["documents"])
MIN_PASSAGE_CHARS = 80
"""Shorter repeated passages are boilerplate ("See also", a copyright line), not content to merge."""
MAX_PASSAGES_SCANNED = 200_000


def _repeated_passages(services: ServicesDep, kb_id: str, titles: dict[str, str]) -> list[dict[str, Any]]:
    """Passages whose text (case and spacing aside) appears in more than one document."""
    seen: dict[str, list[dict[str, Any]]] = defaultdict(list)
    texts: dict[str, str] = {}
    scanned = 0
    for batch in services.encoders.snapshot(kb_id).vectors.scan(kb_id=kb_id, vectors=False):
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


@router.get("/duplicates")
def list_duplicates(
    kb_id: str,
    services: ServicesDep,
    threshold: float = Query(
        DUPLICATE_THRESHOLD, gt=0, le=1, description="Lowest pair score that links two documents."
    ),
    passages: bool = Query(True, description="Also list passages repeated across documents."),
) -> dict[str, Any]:
    """Clusters of near-duplicate documents, largest first, each with its strongest pairs and their
    similarity (0–1: text containment, or the embedding cosine rescaled from 0.9); and passages whose
    text appears in more than one document."""
    model_id = services.encoders.snapshot(kb_id).embedder.model_id
    with services.sessions() as session:
        kb = kbs.get(session, kb_id)
        found = duplicates.clusters(session, kb.id, model_id, threshold=threshold)
        titles: dict[str, str] = {
            row[0]: row[1]
            for row in session.execute(select(Document.id, Document.title).where(Document.kb_id == kb_id))
        }
    return {
        "threshold": threshold,
        "documents": found,
        "passages": _repeated_passages(services, kb_id, titles) if passages else [],
    }
