"""Sentence-level evidence: which sentence of a passage answers the question, and how well.

A help-centre chunk covers several topics, so the cosine of the question against the whole chunk
understates a match that one sentence makes exactly ("Where is the warehouse?" against a refunds
paragraph whose last sentence names the warehouse). Retrieval scores every sentence of the passages
it returns (max-sim), the confidence model reads the best one, and the offline answerer quotes the
best ones, so the answer is chosen from the same numbers that decided to answer.

Sentence vectors come stored with each chunk, encoded at ingestion (backend/retrieval/stored_sentences.py);
for chunks stored without them (before that existed, or with ``KBCHAT_CHUNKING__SENTENCE_VECTORS=false``)
they are encoded here and cached per encoder and knowledge base (``model_id``, ``kb_id`` + text): a
passage retrieved again — the popular articles, every follow-up turn — costs no encoding, and no tenant
can tell from a search's speed that another tenant's passages hold a sentence.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from backend.encoder.base import Embedder
from backend.retrieval.stored_sentences import unpack
from backend.text.sentences import sentence_spans
from backend.vectorstore.base import Hit

SENTENCE_POOL = 20
"""Candidates re-ranked by their best sentence (:func:`by_sentences`)."""


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    start: int
    end: int
    """Character span in the passage's text."""
    text: str
    cosine: float


class SentenceVectors:
    """A bounded, thread-safe LRU of sentence vectors, keyed by encoder, scope (the knowledge base whose
    passage holds the sentence) and text.

    ``count(source, n)``, when given, hears how many sentences were scored from each source: ``stored``
    (with the chunk, from ingestion), ``cache`` or ``encoded`` (the slow path; on a knowledge base
    ingested with sentence vectors it should stay near zero)."""

    def __init__(self, max_entries: int = 50_000, count: Callable[[str, int], None] | None = None) -> None:
        self.max_entries = max_entries
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        self._count = count or (lambda _source, _n: None)

    def clear(self) -> None:
        """Forget every vector (a benchmark measuring the cold path)."""
        with self._lock:
            self._cache.clear()

    @staticmethod
    def _key(model_id: str, scope: str, text: str) -> bytes:
        return hashlib.blake2b(f"{model_id}\0{scope}\0{text}".encode(), digest_size=16).digest()

    def embed(self, embedder: Embedder, sentences: Sequence[str], scope: str = "") -> np.ndarray:
        """``(len(sentences), dimension)`` normalised vectors; the unseen ones are encoded in one batch.
        ``scope``: the knowledge base the sentences are from; another's cached vectors are not used."""
        keys = [self._key(embedder.model_id, scope, s) for s in sentences]
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for key in keys:
                vector = self._cache.get(key)
                if vector is not None:
                    self._cache.move_to_end(key)
                    found[key] = vector
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            text_of = dict(zip(keys, sentences, strict=True))
            vectors = embedder.embed_documents([text_of[k] for k in missing])
            with self._lock:
                for key, vector in zip(missing, vectors, strict=True):
                    found[key] = self._cache[key] = np.asarray(vector, dtype=np.float32)
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        with self._lock:
            self.hits += len(keys) - len(missing)
            self.misses += len(missing)
        self._count("cache", len(keys) - len(missing))
        self._count("encoded", len(missing))
        if not keys:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        return np.stack([found[k] for k in keys])

    def score(
        self,
        embedder: Embedder,
        query_vector: np.ndarray,
        texts: Sequence[str],
        payloads: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[list[ScoredSentence]]:
        """Each text's sentences with their cosine to the query, in text order. ``payloads``: the
        chunks' payloads, whose stored sentence vectors (backend/retrieval/stored_sentences.py) are
        used where they fit; only the other texts' sentences go through the cache and the encoder."""
        query = np.asarray(query_vector, dtype=np.float32)
        spans = [sentence_spans(t) for t in texts]
        stored: list[np.ndarray | None] = (
            [unpack(p, embedder.model_id, len(ss)) for p, ss in zip(payloads, spans, strict=True)]
            if payloads is not None
            else [None] * len(texts)
        )
        flat = [t[s:e] for t, ss, m in zip(texts, spans, stored, strict=True) if m is None for s, e in ss]
        self._count("stored", sum(len(m) for m in stored if m is not None))
        scope = str(payloads[0].get("kb_id", "")) if payloads else ""  # a search's passages share one
        cosines = self.embed(embedder, flat, scope) @ query if flat else np.zeros(0, dtype=np.float32)
        out: list[list[ScoredSentence]] = []
        i = 0
        for text, ss, m in zip(texts, spans, stored, strict=True):
            if m is not None:
                own = m @ query
            else:
                own, i = cosines[i : i + len(ss)], i + len(ss)
            out.append([ScoredSentence(s, e, text[s:e], float(c)) for (s, e), c in zip(ss, own, strict=True)])
        return out


def _unit(values: np.ndarray) -> np.ndarray:
    span = float(values.max() - values.min())
    return (values - values.min()) / span if span > 0 else np.ones_like(values)


def by_sentences(
    sentences: SentenceVectors, embedder: Embedder, query: np.ndarray, hits: list[Hit], weight: float
) -> tuple[list[Hit], dict[str, list[ScoredSentence]]]:
    """The first ``SENTENCE_POOL`` hits re-scored as ``score + weight · best sentence cosine`` (each
    min-max normalised over the pool, as convex fusion does), the rest after them, unchanged; and the
    pool's scored sentences by hit id, so that the confidence step does not score them again. The pool
    is fixed, so the first results never depend on how many are asked for."""
    head = hits[:SENTENCE_POOL]
    scored = sentences.score(
        embedder, query, [h.payload.get("text", "") for h in head], [h.payload for h in head]
    )
    best = np.asarray(
        [max((s.cosine for s in ss), default=h.relevance) for h, ss in zip(head, scored, strict=True)]
    )
    combined = _unit(np.asarray([h.score for h in head])) + weight * _unit(best)
    order = sorted(range(len(head)), key=lambda i: -combined[i])
    reordered = [replace(head[i], score=float(combined[i])) for i in order] + hits[SENTENCE_POOL:]
    return reordered, {h.id: ss for h, ss in zip(head, scored, strict=True)}
