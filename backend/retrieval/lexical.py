"""BM25-style sparse vectors, so keyword search runs inside Qdrant and scales with the collection.

The document side carries BM25's saturated, length-normalised term frequency; the query side a
weight of 1 per distinct term. Qdrant's IDF modifier supplies the inverse document frequency at
query time from the live collection, so nothing here is ever refitted or rebuilt per query.
Terms are hashed (CRC32) into the sparse index space: no vocabulary to store or keep in sync.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from functools import lru_cache

import snowballstemmer

from backend.vectorstore.base import SparseVector

# Keeps identifiers whole ("e1234", "v3.11", "foo_bar", "x-api-key") and also emits their parts below.
_TOKEN = re.compile(r"\w+(?:[.\-_/:]\w+)*", re.UNICODE)
_PARTS = re.compile(r"[.\-_/:]")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "so",
        "than",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """Snowball English stem of a plain word ("refunds" → "refund"); identifiers are kept whole."""
    if len(word) < 4 or not word.isalpha():
        return word
    return str(_stemmer.stemWord(word))


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed terms of ``text``: whole identifiers plus their parts, stopwords dropped."""
    normalised = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    for match in _TOKEN.finditer(normalised):
        token = match.group()
        if token not in _STOPWORDS:
            out.append(_stem(token))
        if _PARTS.search(token):
            out.extend(_stem(p) for p in _PARTS.split(token) if p and p not in _STOPWORDS and p != token)
    return out


def _index(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


class LexicalEncoder:
    """Stateless text → :class:`SparseVector` (BM25 with ``k1``, ``b`` and an assumed mean length)."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, avg_len: float = 120.0) -> None:
        self.k1, self.b, self.avg_len = k1, b, avg_len

    def encode_document(self, text: str) -> SparseVector:
        counts = Counter(_index(t) for t in terms(text))
        length = sum(counts.values())
        norm = self.k1 * (1 - self.b + self.b * length / self.avg_len)
        items = sorted(counts.items())
        return SparseVector(
            indices=[i for i, _ in items], values=[tf * (self.k1 + 1) / (tf + norm) for _, tf in items]
        )

    def encode_query(self, text: str) -> SparseVector:
        indices = sorted({_index(t) for t in terms(text)})
        return SparseVector(indices=indices, values=[1.0] * len(indices))
