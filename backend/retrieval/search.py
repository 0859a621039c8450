"""Query → ranked passages, scoped to one knowledge base, with the encoder that serves it.

The knowledge base's encoder and collection are taken once per search (an
:class:`~backend.serving.snapshot.EncoderSnapshot`), so a search that began before the knowledge base
switched encoders finishes on the pair it started with.

Order of operations, each step independent of ``top_k`` so the first results never change with it:
search a fixed candidate pool (dense, sparse, or both fused: backend/retrieval/fusion.py) → optional
cross-encoder rerank of a fixed pool → collapse near-duplicates → drop passages under
``min_relevance`` (dense cosine, never a fused score) → cut to ``top_k`` → score each passage's
calibrated confidence (backend/retrieval/confidence.py) and drop those under ``min_confidence`` →
optionally attach neighbouring chunks as context.

Without a cross-encoder, the first ``SENTENCE_POOL`` (20) candidates are re-ranked with their best
sentence's cosine (``sentence_weight``): a chunk that answers in one sentence of several is lifted
over one that is only vaguely about the topic throughout. On the train splits this added 0.016
(python-faq) and 0.009 (manpages) nDCG@10 to hybrid search (docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, NamedTuple, Protocol

import numpy as np

from backend import tracing
from backend.errors import InvalidInput
from backend.retrieval.confidence import serving
from backend.retrieval.config import RetrievalSettings
from backend.retrieval.dedupe import collapse
from backend.retrieval.evidence import RUNNERS_UP, gather, rarest_idf, runners_up_of
from backend.retrieval.fusion import convex
from backend.retrieval.passages import Passage, SearchResult
from backend.retrieval.query_languages import QueryLanguages
from backend.retrieval.sentences import SENTENCE_POOL, ScoredSentence, SentenceVectors, by_sentences
from backend.serving.snapshot import EncoderSnapshot
from backend.telemetry import Telemetry
from backend.text.hyphenation import join_broken_words
from backend.vectorstore.base import Hit, SearchFilters, SearchMode, SparseVector, VectorStore

MAX_QUERY_CHARS = 4000
CONVEX_POOL = 100
SIZE_TTL_S = 60.0
"""How long a point count (the keyword evidence's IDF unit, the runners-up's size) is reused: it moves
the unit by its logarithm, so a minute-old count is as good as a fresh one and saves a count a search."""
MAX_SIZES_KEPT = 4096
"""Counts cached at once (per collection, and per knowledge base and filters): filters vary with every
date range a widget sends, so the cache is emptied when it holds this many."""


class Reranker(Protocol):
    pool: int

    def score(self, query: str, texts: list[str]) -> list[float]: ...


class _Laps:
    """Milliseconds since the previous lap, by stage name."""

    def __init__(self, started: float) -> None:
        self.last = started
        self.laps: dict[str, float] = {}

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round((now - self.last) * 1000, 2)
        self.last = now


class _Candidates(NamedTuple):
    hits: list[Hit]
    bm25: dict[str, float]
    """BM25 score by point id (empty when no evidence is gathered)."""
    dense_scores: list[float]
    """The dense search's best cosines, best first (at most RUNNERS_UP; empty without evidence)."""


def _score_kind(config: RetrievalSettings) -> str:
    if config.mode is SearchMode.HYBRID:
        return "convex" if config.fusion == "convex" else "rrf"
    return "cosine" if config.mode is SearchMode.DENSE else "bm25"


def join_chunks(chunks: list[dict[str, Any]]) -> str:
    """Concatenate consecutive chunks, dropping the overlap each shares with the one before."""
    text, end = "", None
    for chunk in chunks:
        body = chunk.get("text", "")
        if end is not None and chunk.get("char_start", 0) < end:
            body = body[end - chunk["char_start"] :]
        elif text:
            text += "\n"
        text += body
        end = chunk.get("char_end", 0)
    return text


class Retriever:
    def __init__(
        self,
        encoders: Callable[[str], EncoderSnapshot],
        reranker: Reranker | None = None,
        sentences: SentenceVectors | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        """``encoders``: knowledge base → the snapshot serving it (``EncoderRouter.snapshot``), which
        also names the keyword analysis its collection was built with."""
        self.encoders, self.reranker, self.telemetry = encoders, reranker, telemetry
        self.sentences = sentences or SentenceVectors(count=telemetry.sentences_scored if telemetry else None)
        self.query_languages = QueryLanguages()
        self._counts: dict[tuple[str, ...], tuple[float, int]] = {}

    def search(
        self,
        *,
        kb_id: str,
        query: str,
        top_k: int = 5,
        config: RetrievalSettings | None = None,
        filters: SearchFilters | None = None,
        score_confidence: bool = True,
    ) -> SearchResult:
        """``score_confidence``: False skips the sentence and confidence scoring (a ranking-only caller,
        such as an nDCG evaluation asking for hundreds of passages)."""
        config = config or RetrievalSettings()
        with tracing.span("kbchat.search", **{"kbchat.kb_id": kb_id, "kbchat.mode": config.mode.value}):
            result = self._search(kb_id, query, top_k, config, filters, score_confidence)
            tracing.stages(result.timings_ms)
        return result

    def _search(
        self,
        kb_id: str,
        query: str,
        top_k: int,
        config: RetrievalSettings,
        filters: SearchFilters | None,
        score_confidence: bool,
    ) -> SearchResult:
        query = query.strip()
        if not query:
            raise InvalidInput("query is empty; send the question or keywords to search for")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidInput(f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
        query = join_broken_words(query)  # text pasted from a man page or PDF: "certifi‐ cate"
        started = time.perf_counter()
        lap = _Laps(started)
        snapshot = self.encoders(kb_id)
        embedder, vectors = snapshot.embedder, snapshot.vectors
        dense = embedder.embed_queries([query], scope=kb_id)[0]
        lap("encode")
        # Fetch more than top_k so collapsing and the threshold can still fill it; a fixed rerank pool.
        fetch = max(top_k * 2, self.reranker.pool if self.reranker else 0, SENTENCE_POOL)
        language = self.query_languages(snapshot, kb_id, query)
        words = snapshot.keywords.query_words(query, language.analysis)
        sparse = snapshot.keywords.encode_words(words)
        lap("keywords")
        found = self._candidates(vectors, kb_id, dense, sparse, config, fetch, filters, score_confidence)
        hits = found.hits
        lap("candidates")
        rerank_scores: dict[str, float] = {}
        if self.reranker is not None and hits:
            scores = self.reranker.score(query, [h.payload.get("text", "") for h in hits])
            rerank_scores = {h.id: s for h, s in zip(hits, scores, strict=True)}
            hits = sorted(hits, key=lambda h: -rerank_scores[h.id])
            lap("rerank")
        if config.collapse_threshold is not None:
            hits = collapse(hits, config.collapse_threshold)
        if config.min_relevance is not None:
            hits = [h for h in hits if h.relevance >= config.min_relevance]
        kind = "rerank" if rerank_scores else _score_kind(config)
        sentence_scores: dict[str, list[ScoredSentence]] = {}
        if config.sentence_weight > 0 and not rerank_scores and len(hits) > 1:
            hits, sentence_scores = by_sentences(
                self.sentences, embedder, dense, hits, config.sentence_weight
            )
            kind += "+sentence"
        hits = hits[:top_k]
        lap("order")
        passages = [Passage.from_hit(h, kind, rerank_scores.get(h.id)) for h in hits]
        calibration = None
        if score_confidence and passages:
            calibration = serving(config.calibration, embedder.model_id)
            scored = gather(
                embedder=embedder,
                sentences=self.sentences,
                keywords=snapshot.keywords,
                query_words=words,
                query_language=language.detected,
                query_vector=dense,
                hits=hits,
                bm25=found.bm25,
                runners_up=runners_up_of(found.dense_scores, self._kb_size(vectors, kb_id, filters)),
                rerank=rerank_scores,
                idf_unit=rarest_idf(self._keyword_points(vectors, kb_id)),
                scored=sentence_scores,
            )
            passages = [
                replace(
                    p,
                    confidence=calibration.probability(s.evidence),
                    answer_weight=calibration.answer_weight(s.evidence),
                    evidence=s.evidence,
                    sentences=tuple(s.sentences),
                )
                for p, s in zip(passages, scored, strict=True)
            ]
            if config.min_confidence is not None:
                passages = [p for p in passages if (p.confidence or 0.0) >= config.min_confidence]
            lap("confidence")
        if config.neighbours:
            passages = [self._with_neighbours(vectors, kb_id, p, config.neighbours) for p in passages]
            lap("neighbours")
        took_ms = (time.perf_counter() - started) * 1000
        if self.telemetry is not None:
            self.telemetry.observe_search(lap.laps)
        return SearchResult(
            passages,
            config.mode,
            took_ms,
            dense,
            embedder.model_id,
            calibration,
            lap.laps,
        )

    def keyword_query(self, snapshot: EncoderSnapshot, kb_id: str, query: str) -> SparseVector:
        """``query``'s sparse vector as a search of ``kb_id`` on ``snapshot`` makes it."""
        return snapshot.keywords.encode_query(query, self.query_languages(snapshot, kb_id, query).analysis)

    def _kb_size(self, vectors: VectorStore, kb_id: str, filters: SearchFilters | None) -> int:
        """Passages a search of one knowledge base sees (those its filters leave), read by the
        runners-up evidence: a widget scoped to one tag searches only that tag's."""
        key = (vectors.collection, kb_id, repr(filters))
        return self._count(key, lambda: vectors.count(kb_id=kb_id, filters=filters))

    def _keyword_points(self, vectors: VectorStore, kb_id: str) -> int:
        """The points the keyword IDF of a search of ``kb_id`` counts (its own, or the collection's)."""
        return self._count((vectors.collection, kb_id, "keywords"), partial(vectors.keyword_points, kb_id))

    def _count(self, key: tuple[str, ...], count: Callable[[], int]) -> int:
        """``count()``, at most SIZE_TTL_S old; the cache is emptied when full (filters vary: dates)."""
        now = time.monotonic()
        cached = self._counts.get(key)
        if cached is None or now - cached[0] > SIZE_TTL_S:
            if len(self._counts) >= MAX_SIZES_KEPT:
                self._counts.clear()
            cached = self._counts[key] = (now, count())
        return cached[1]

    def _candidates(
        self,
        vectors: VectorStore,
        kb_id: str,
        dense: np.ndarray,
        sparse: SparseVector,
        config: RetrievalSettings,
        limit: int,
        filters: SearchFilters | None,
        evidence: bool,
    ) -> _Candidates:
        """The ranked candidates; with ``evidence`` (the confidence model reads them), BM25 scores by
        point id (a passage outside the keyword pool scores 0) and the dense search's best cosines."""
        search = partial(vectors.search, kb_id=kb_id, dense=dense, sparse=sparse, filters=filters)
        pool = max(limit, CONVEX_POOL)
        if config.mode is SearchMode.HYBRID and config.fusion == "convex":
            # Each list is normalised over its first CONVEX_POOL hits whatever ``limit`` is, so the first
            # results never depend on it (normalised over a deeper list, a search for 300 passages ranked
            # its first 10 differently from a search for 10). Both lists as ids and scores; only the
            # fused winners' payloads and vectors are read.
            dense_hits, sparse_hits = (
                search(mode=SearchMode.DENSE, limit=pool, hydrate=False),
                search(mode=SearchMode.SPARSE, limit=pool, hydrate=False),
            )
            fused = convex(dense_hits, sparse_hits, config.alpha, limit, reference=CONVEX_POOL)
            fused = vectors.hydrate(fused, dense)
            return _Candidates(
                fused, {h.id: h.score for h in sparse_hits}, [h.score for h in dense_hits[:RUNNERS_UP]]
            )
        hits = search(mode=config.mode, limit=limit, fusion=config.rrf)
        if not evidence:
            return _Candidates(hits, {}, [])
        if config.mode is SearchMode.DENSE:
            bm25_hits = search(mode=SearchMode.SPARSE, limit=pool, hydrate=False)
            return _Candidates(hits, {h.id: h.score for h in bm25_hits}, [h.score for h in hits[:RUNNERS_UP]])
        dense_scores = [h.score for h in search(mode=SearchMode.DENSE, limit=RUNNERS_UP, hydrate=False)]
        if config.mode is SearchMode.SPARSE:
            return _Candidates(hits, {h.id: h.score for h in hits}, dense_scores)
        bm25_hits = search(mode=SearchMode.SPARSE, limit=pool, hydrate=False)
        return _Candidates(hits, {h.id: h.score for h in bm25_hits}, dense_scores)

    def _with_neighbours(self, vectors: VectorStore, kb_id: str, passage: Passage, n: int) -> Passage:
        chunks = vectors.neighbours(
            kb_id=kb_id,
            document_id=passage.document_id,
            first=max(0, passage.chunk_index - n),
            last=passage.chunk_index + n,
        )
        before = [c for c in chunks if c.get("chunk_index", 0) < passage.chunk_index]
        after = [c for c in chunks if c.get("chunk_index", 0) > passage.chunk_index]
        me = {"text": passage.text, "char_start": passage.char_start, "char_end": passage.char_end}
        # Trim the overlap on both sides: before-context ends where this passage starts, and vice versa.
        before_text = join_chunks(before)
        if before and before[-1].get("char_end", 0) > passage.char_start:
            before_text = before_text[: len(before_text) - (before[-1]["char_end"] - passage.char_start)]
        after_text = join_chunks([me, *after])[len(passage.text) :].lstrip("\n")
        return replace(passage, context_before=before_text, context_after=after_text)
