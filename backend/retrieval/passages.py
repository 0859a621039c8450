"""What a search returns: passages with their scores, confidence and evidence, and the result around
them. Kept apart from the search itself (backend/retrieval/search.py) because chat, the evaluation and
the calibration read these without running a search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.retrieval.confidence import ConfidenceModel, Evidence
from backend.retrieval.sentences import ScoredSentence
from backend.vectorstore.base import Hit, SearchMode


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    text: str
    score: float
    relevance: float
    document_id: str
    title: str
    source: str
    heading: list[str]
    chunk_index: int
    char_start: int
    char_end: int
    score_kind: str = "cosine"
    rerank_score: float | None = None
    context_before: str = ""
    context_after: str = ""
    location: dict[str, Any] = field(default_factory=dict)
    """Page (and page_end), rows, or start_s/end_s in the source, when the format has them."""
    confidence: float | None = None
    """Calibrated probability that this passage answers the query (None: not scored)."""
    answer_weight: float | None = None
    """How surely this passage, rather than the others retrieved, answers the query (the confidence
    model's passage weights): what the offline answerer weighs its sentences by."""
    evidence: Evidence | None = None
    """What ``confidence`` was computed from."""
    sentences: tuple[ScoredSentence, ...] = ()
    """The passage's sentences with their cosine to the query: what the offline answerer quotes."""

    @classmethod
    def from_hit(cls, hit: Hit, score_kind: str, rerank_score: float | None = None) -> Passage:
        p = hit.payload
        return cls(
            id=hit.id,
            text=p.get("text", ""),
            score=hit.score,
            relevance=hit.relevance,
            document_id=p.get("document_id", ""),
            title=p.get("title", ""),
            source=p.get("source", ""),
            heading=list(p.get("heading", [])),
            chunk_index=int(p.get("chunk_index", 0)),
            char_start=int(p.get("char_start", 0)),
            char_end=int(p.get("char_end", 0)),
            score_kind=score_kind,
            rerank_score=rerank_score,
            location=dict(p.get("location") or {}),
        )


@dataclass(frozen=True, slots=True)
class SearchResult:
    passages: list[Passage]
    mode: SearchMode
    took_ms: float
    query_vector: np.ndarray | None = None
    """The dense query embedding, kept so chat can store it for analytics without encoding again."""
    model_id: str = ""
    """The encoder that made ``query_vector``."""
    calibration: ConfidenceModel | None = None
    """The confidence model the passages were scored with (None: confidence was not scored)."""
    timings_ms: dict[str, float] = field(default_factory=dict)
    """Milliseconds per stage (encode, keywords, candidates, rerank, order, confidence, neighbours):
    where a slow search spent its time."""

    @property
    def confidence(self) -> float | None:
        """The answer's confidence: that of the best passage (None: not scored, or nothing found)."""
        return max((p.confidence for p in self.passages if p.confidence is not None), default=None)


def evidence_rows(passages: Sequence[Passage]) -> np.ndarray:
    """The scored passages' evidence, one row each (:data:`~backend.retrieval.confidence.FEATURES`)."""
    return np.stack([p.evidence.vector() for p in passages if p.evidence is not None])
