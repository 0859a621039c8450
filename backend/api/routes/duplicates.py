"""/v1/knowledge-bases/{kb_id}/duplicates: clusters of near-duplicate documents (and passages repeated
across documents), so the people who own the content can clean up what competes in retrieval."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from backend.api.deps import ServicesDep
from backend.catalog import duplicates
from backend.catalog import knowledge_bases as kbs
from backend.text.fingerprint import DUPLICATE_THRESHOLD

router = APIRouter(prefix="/knowledge-bases/{kb_id}", tags=["documents"])


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
    snapshot = services.encoders.snapshot(kb_id)
    with services.sessions() as session:
        kb = kbs.get(session, kb_id)
        titles = duplicates.titles(session, kb.id)
        found = duplicates.clusters(session, kb.id, snapshot.embedder.model_id, titles, threshold=threshold)
    return {
        "threshold": threshold,
        "documents": found,
        "passages": duplicates.repeated_passages(snapshot.vectors, kb_id, titles) if passages else [],
    }
