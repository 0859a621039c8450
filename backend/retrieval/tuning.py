"""Pick the search mode and fusion settings that maximise nDCG@10 on a knowledge base's own judged queries.

Each query's dense and keyword candidate lists are fetched from the store once; every candidate
setting (dense, sparse, convex fusion over an alpha grid, Qdrant RRF over a k × weight grid) is then
scored offline with the same fusion code the search path runs (:mod:`backend.retrieval.fusion`), so a
grid of ~50 settings costs two searches per query, not a hundred.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.encoder.base import Embedder
from backend.retrieval.config import RetrievalSettings
from backend.retrieval.fusion import convex, rrf
from backend.retrieval.metrics import ndcg_at_k
from backend.vectorstore.base import Fusion, Hit, SearchMode, SparseVector, VectorStore

ALPHA_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
K_GRID = (1, 2, 5, 10, 20, 60)
DENSE_WEIGHT_GRID = (0.5, 1.0, 2.0, 4.0)
POOL = 100


@dataclass(frozen=True, slots=True)
class JudgedQuery:
    query: str
    relevant_documents: frozenset[str] = frozenset()
    positive_text: str | None = None
    """A passage that answers the query: a document is relevant if one of its passages contains it."""


@dataclass(slots=True)
class Candidate:
    label: str
    update: dict[str, Any]
    """The retrieval settings this candidate stands for."""
    ndcg: float = 0.0


@dataclass(slots=True)
class TuneReport:
    queries: int
    skipped: int
    """Judged queries whose positive was not among any candidate: they cannot tell settings apart."""
    best: Candidate
    current: Candidate
    candidates: list[Candidate] = field(default_factory=list)


def grid() -> list[Candidate]:
    out = [Candidate("dense", {"mode": "dense"}), Candidate("sparse", {"mode": "sparse"})]
    out += [
        Candidate(f"convex alpha={a}", {"mode": "hybrid", "fusion": "convex", "alpha": a}) for a in ALPHA_GRID
    ]
    out += [
        Candidate(
            f"rrf k={k} dense_weight={w}",
            {"mode": "hybrid", "fusion": "rrf", "fusion_k": k, "dense_weight": w, "sparse_weight": 1.0},
        )
        for k in K_GRID
        for w in DENSE_WEIGHT_GRID
    ]
    return out


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def answers(judged: JudgedQuery, document_id: str, text: str) -> bool:
    """The passage (of ``document_id``, reading ``text``) answers the judged query: its document is
    named, or it contains the positive passage (or, being long enough, is contained in it)."""
    if document_id in judged.relevant_documents:
        return True
    if not judged.positive_text:
        return False
    needle, text = _normal(judged.positive_text), _normal(text)
    return needle in text or (len(text) > 40 and text in needle)


def _relevant(judged: JudgedQuery, hits: Sequence[Hit]) -> dict[str, int]:
    relevant = set(judged.relevant_documents)
    for hit in hits:
        if answers(judged, hit.payload["document_id"], hit.payload.get("text", "")):
            relevant.add(hit.payload["document_id"])
    return dict.fromkeys(relevant, 1)


def ranker(settings: RetrievalSettings) -> Callable[[list[Hit], list[Hit]], list[str]]:
    """Point ids in the order the search path would return them for ``settings``."""
    if settings.mode is SearchMode.DENSE:
        return lambda dense, sparse: [h.id for h in dense]
    if settings.mode is SearchMode.SPARSE:
        return lambda dense, sparse: [h.id for h in sparse]
    if settings.fusion == "convex":
        return lambda dense, sparse: [h.id for h in convex(dense, sparse, settings.alpha)]
    fusion: Fusion = settings.rrf
    return lambda dense, sparse: rrf([h.id for h in dense], [h.id for h in sparse], fusion)


def tune(
    *,
    embedder: Embedder,
    keyword_query: Callable[[str], SparseVector],
    vectors: VectorStore,
    kb_id: str,
    judged: Sequence[JudgedQuery],
    current: RetrievalSettings,
) -> TuneReport:
    if not judged:
        raise ValueError("no judged queries given")
    runs: list[tuple[list[Hit], list[Hit], dict[str, int]]] = []
    for j, dense in zip(judged, embedder.embed_queries([j.query for j in judged]), strict=True):
        sparse = keyword_query(j.query)
        dense_hits = vectors.search(
            kb_id=kb_id, dense=dense, sparse=sparse, mode=SearchMode.DENSE, limit=POOL
        )
        sparse_hits = vectors.search(
            kb_id=kb_id, dense=dense, sparse=sparse, mode=SearchMode.SPARSE, limit=POOL
        )
        relevant = _relevant(j, [*dense_hits, *sparse_hits])
        if relevant:
            runs.append((dense_hits, sparse_hits, relevant))
    if not runs:
        raise ValueError("none of the pairs' answers was found in this knowledge base; check the pairs file")

    def score(settings: RetrievalSettings) -> float:
        rank = ranker(settings)
        values = []
        for dense_hits, sparse_hits, relevant in runs:
            doc_of = {h.id: h.payload["document_id"] for h in (*dense_hits, *sparse_hits)}
            documents = list(dict.fromkeys(doc_of[p] for p in rank(dense_hits, sparse_hits)))
            values.append(ndcg_at_k(documents, relevant, 10))
        return statistics.fmean(values)

    candidates = grid()
    for candidate in candidates:
        candidate.ndcg = score(current.with_(**candidate.update))
    now = Candidate("current", {}, score(current))
    best = max(candidates, key=lambda c: c.ndcg)
    if best.ndcg <= now.ndcg + 1e-9:  # never change settings without a measured gain
        best = now
    return TuneReport(
        len(runs), len(judged) - len(runs), best, now, sorted(candidates, key=lambda c: -c.ndcg)
    )
