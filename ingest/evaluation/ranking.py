"""Passages → ranked corpus ids: each document once, at its best passage; duplicates stand for all ids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backend.retrieval.search import Passage


def documents_in_order(
    passages: Sequence[Passage], aliases: Mapping[str, list[str]], relevant: Mapping[str, int]
) -> list[str]:
    ranked: list[str] = []
    seen: set[str] = set()
    for passage in passages:
        if passage.document_id in seen:
            continue
        seen.add(passage.document_id)
        ids = aliases.get(passage.document_id, [passage.source])
        # A de-duplicated document is any of its corpus ids; put the judged ones first.
        ranked.extend(sorted(ids, key=lambda i: -relevant.get(i, 0)))
    return ranked
