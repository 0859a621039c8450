"""Passages → ranked corpus ids: each document once, at its best passage; duplicates stand for all ids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backend.retrieval.config import RetrievalSettings
from backend.retrieval.passages import Passage
from backend.retrieval.search import Retriever
from ingest.evaluation.baselines import TOP

PASSAGES = 3 * TOP
"""Passages a ranking search asks for: documents have several, and TOP documents are ranked."""


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


def search_documents(
    retriever: Retriever,
    kb_id: str,
    query: str,
    config: RetrievalSettings,
    aliases: Mapping[str, list[str]],
    relevant: Mapping[str, int],
) -> list[str]:
    """The corpus ids a search ranks for ``query``, best first (at most TOP): what ``kbchat eval``
    scores, and what a benchmark must score to be compared with it. Ranking only (no confidence)."""
    result = retriever.search(kb_id=kb_id, query=query, top_k=PASSAGES, config=config, score_confidence=False)
    return documents_in_order(result.passages, aliases, relevant)[:TOP]
