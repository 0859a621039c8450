"""Deterministic point ids: re-running an ingestion writes the same points instead of duplicates."""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f1c2a34-5b7e-4c1d-9a8e-0b3f4d5e6a7b")


def text_hash(text: str) -> str:
    """The ``text_hash`` stored with each point: 128 bits of SHA-256 of the exact text embedded, the key
    a re-ingest finds a chunk's vector by."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def point_id(document_id: str, ordinal: int, text: str) -> str:
    """uuid5 of (document, position, content): stable across retries, new when the text changes."""
    return str(uuid.uuid5(_NAMESPACE, f"{document_id}:{ordinal}:{text_hash(text)[:16]}"))
