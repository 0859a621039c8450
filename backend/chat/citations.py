"""``[n]`` markers in an answer → the passages they cite; only passages the answerer was given."""

from __future__ import annotations

import re
from typing import Any

from backend.retrieval.passages import Passage

_MARKER = re.compile(r"\[(\d{1,3})\]")


def cited_indices(answer: str, available: int) -> list[int]:
    """1-based indices cited in ``answer``, in order of first appearance, dropping any out of range."""
    seen: list[int] = []
    for match in _MARKER.finditer(answer):
        index = int(match.group(1))
        if 1 <= index <= available and index not in seen:
            seen.append(index)
    return seen


def citation(index: int, passage: Passage) -> dict[str, Any]:
    return {
        "index": index,
        "passage_id": passage.id,
        "document_id": passage.document_id,
        "title": passage.title,
        "source": passage.source,
        "heading": passage.heading,
        "chunk_index": passage.chunk_index,
        "char_start": passage.char_start,
        "char_end": passage.char_end,
        "location": passage.location,
        "text": passage.text,
        "relevance": round(passage.relevance, 4),
    }


def citations_for(answer: str, passages: list[Passage]) -> list[dict[str, Any]]:
    return [citation(i, passages[i - 1]) for i in cited_indices(answer, len(passages))]
