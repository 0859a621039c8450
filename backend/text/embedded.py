"""What the encoder read for a stored chunk, rebuilt from its payload.

A re-index onto a new encoder, a fine-tuning run over a knowledge base's own text and the confidence's
keyword evidence all need the exact text the ingestion pipeline embedded, not the stored ``text``
alone: the chunk's context line (title > heading path) sat above it, and words a typesetter broke
across lines were joined (:mod:`backend.text.hyphenation`).
"""

from __future__ import annotations

from typing import Any

from backend.text.hyphenation import join_broken_words


def embedding_text(payload: dict[str, Any]) -> str:
    """The text the encoder read for a stored chunk: its context line, then its text."""
    context = payload.get("context")
    if context is None:  # stored before the context was kept: the same title > heading path
        context = " > ".join(p for p in (payload.get("title"), *payload.get("heading", [])) if p)
    text = payload.get("text", "")
    return join_broken_words(f"{context}\n{text}" if context else text)
