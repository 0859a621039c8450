"""The evidence the confidence model reads, gathered for the passages one search returns.

Everything here is either already computed by the search (dense cosine, BM25, rank, rerank score) or
cheap and cached (sentence vectors, keyword sets), so scoring confidence adds one batched encode of
the sentences not seen before, and nothing for a passage retrieved again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from backend.encoder.base import Embedder
from backend.keywords.encoder import LexicalEncoder
from backend.retrieval.confidence import Evidence, sigmoid
from backend.retrieval.sentences import ScoredSentence, SentenceVectors
from backend.text.embedded import embedding_text
from backend.text.languages import Detected
from backend.vectorstore.base import Hit
from backend.vectorstore.keyword_idf import idf

T = TypeVar("T", str, int)
"""Terms as the analysis writes them, or as the stored sparse vectors name them (their ids)."""


@dataclass(frozen=True, slots=True)
class Scored:
    evidence: Evidence
    sentences: list[ScoredSentence]


def coverage(query_words: Sequence[frozenset[T]], text_terms: Set[T]) -> float:
    """Share of the question's keywords present in a text's terms (0 when the question has none). A
    word counts once, matched by any of its stems (a question analysed in two languages has two)."""
    if not query_words:
        return 0.0
    return sum(1 for word in query_words if not word.isdisjoint(text_terms)) / len(query_words)


def foreign(query_language: Detected | None, passage_language: str | None) -> float:
    """How surely the question is in another language than the passage: the detector's probability
    for the question's language when it differs from the passage's, else 0. Such a question shares
    no words with its answer, so its keyword evidence is absent however right the passage is."""
    if query_language is None or not passage_language or query_language.language == passage_language:
        return 0.0
    return query_language.probability


def rarest_idf(points: int) -> float:
    """The IDF of a term found in one point of ``points`` (Qdrant's formula, counted per knowledge
    base: backend/vectorstore/keyword_idf.py): the unit BM25 is measured in, so that the keyword
    evidence means the same in a knowledge base of one document as in one of a million."""
    return idf(max(points, 1), 1)


RUNNERS_UP = 10
"""The dense search's best passages that :func:`runners_up_of` reads (the first and nine more)."""
FULL_TRUST_PASSAGES = 100
"""A knowledge base this large (in passages) is read by its runners-up alone; a smaller one partly by
its best passage instead (:func:`runners_up_of`)."""


def runners_up_of(dense_scores: Sequence[float], kb_passages: int) -> float:
    """How much of the knowledge base is about the question: the mean cosine of the 2nd to 10th best
    passages of the dense search (``dense_scores``, best first). A question on the knowledge base's
    topic meets several passages near it, one from elsewhere a single stray lookalike at best (python-faq
    asked man-page questions: false answers at 2 % false refusals 10.1 % → 5.1 % added to the best
    cosine; docs/benchmarks.md).

    A small knowledge base has few passages on any one topic, however right its best one is, so the
    signal is trusted in proportion to its size, fully from :data:`FULL_TRUST_PASSAGES` passages, and the
    best passage's cosine stands in for the rest: a knowledge base of three help articles is not refused
    for being small (ten knowledge bases of three python-faq answers refused 8 of their 30 questions on
    the plain mean, 2 of 30 with this, as many as without the feature; docs/benchmarks.md).
    ``kb_passages``: how many passages the search could see (the knowledge base's, or those its filters
    leave); a search that found fewer than :data:`RUNNERS_UP` passages saw only those."""
    if not dense_scores:
        return 0.0
    best = float(dense_scores[0])
    rest = dense_scores[1:RUNNERS_UP]
    level = float(sum(rest) / len(rest)) if rest else best
    searched = min(kb_passages, len(dense_scores)) if len(dense_scores) < RUNNERS_UP else kb_passages
    trust = min(1.0, max(searched, 0) / FULL_TRUST_PASSAGES)
    return trust * level + (1.0 - trust) * best


def gather(
    *,
    embedder: Embedder,
    sentences: SentenceVectors,
    keywords: LexicalEncoder,
    query_words: Sequence[frozenset[str]],
    query_language: Detected | None = None,
    query_vector: np.ndarray,
    hits: Sequence[Hit],
    bm25: Mapping[str, float],
    rerank: Mapping[str, float],
    idf_unit: float,
    runners_up: float = 0.0,
    scored: Mapping[str, list[ScoredSentence]] | None = None,
) -> list[Scored]:
    """Evidence for each of ``hits``, with its sentences scored. ``query_words``: the question as
    ``keywords`` (the collection's analysis) reads it; ``runners_up``: the question's
    :func:`runners_up_of`, the same for every passage; ``scored``: sentences already scored for
    this question by hit id (the sentence re-rank's), not scored again."""
    known = scored or {}
    new = [h for h in hits if h.id not in known]
    fresh = sentences.score(
        embedder, query_vector, [h.payload.get("text", "") for h in new], [h.payload for h in new]
    )
    by_id = {**known, **{h.id: ss for h, ss in zip(new, fresh, strict=True)}}
    scored_sentences = [by_id[h.id] for h in hits]
    word_ids = keywords.word_ids(query_words)
    out = []
    for hit, sents in zip(hits, scored_sentences, strict=True):
        best = max((s.cosine for s in sents), default=hit.relevance)
        rerank_score = rerank.get(hit.id)
        evidence = Evidence(
            cosine=hit.relevance,
            sentence_cosine=best,
            coverage=coverage(word_ids, hit.terms)
            if hit.terms is not None
            else coverage(
                query_words,
                set(keywords.document_terms(embedding_text(hit.payload), hit.payload.get("lang"))),
            ),
            keyword=math.log1p(max(0.0, bm25.get(hit.id, 0.0)) / idf_unit),
            rerank=sigmoid(rerank_score) if rerank_score is not None else 0.0,
            foreign=foreign(query_language, hit.payload.get("lang")),
            runners_up=runners_up,
        )
        out.append(Scored(evidence, sents))
    return out
