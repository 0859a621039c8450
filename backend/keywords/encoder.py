"""BM25-style sparse vectors, so keyword search runs inside Qdrant and scales with the collection.

The document side carries BM25's saturated, length-normalised term frequency; the query side a
weight of 1 per distinct term. The vector store multiplies each query term by its inverse document
frequency at query time from the live points, so nothing here is ever refitted or rebuilt per query:
since ``ml3`` counted over the knowledge base searched (backend/vectorstore/keyword_idf.py), before it
by Qdrant's IDF modifier over the whole collection, which every knowledge base on an encoder shares.
Terms are hashed (CRC32) into the sparse index space: no vocabulary to store or keep in sync.

The analysis that makes the terms is versioned (:data:`VERSIONS`; backend/retrieval/analysis.py):
a collection's sparse vectors are all of one version, named in the collection's identity
(:func:`index_id`), and a query is analysed by the version of the collection it searches, so two
vocabularies never meet. A knowledge base indexed with an older version keeps being served from its
collection until the re-index (finetune/rollout.py) has rebuilt its sparse vectors in the current one.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from backend.keywords.analysis import MultilingualAnalyzer, english_terms
from backend.vectorstore.base import SparseVector

KeywordsVersion = Literal["en1", "ml2", "ml3"]
LEGACY: KeywordsVersion = "en1"
"""English-only analysis of the first releases; what a knowledge base with no recorded version has."""
CURRENT: KeywordsVersion = "ml3"
"""Per-language analysis (``ml2``'s), IDF counted per knowledge base: what new knowledge bases get and
older ones are re-indexed to."""
VERSIONS: tuple[KeywordsVersion, ...] = (LEGACY, "ml2", CURRENT)
COLLECTION_IDF: frozenset[str] = frozenset({LEGACY, "ml2"})
"""Versions whose collections weigh terms with Qdrant's IDF over the whole collection."""

_multilingual = MultilingualAnalyzer()


def index_id(model_id: str, keywords: str) -> str:
    """The identity of a collection: its dense encoder and its keyword analysis. ``en1`` adds nothing,
    so collections made before keyword versions existed keep their names."""
    return model_id if keywords == LEGACY else f"{model_id}+kw-{keywords}"


def version_of(index: str) -> KeywordsVersion:
    """The keyword analysis named in a collection's identity: :func:`index_id` read backwards."""
    _, marker, version = index.rpartition("+kw-")
    return next((v for v in VERSIONS if marker and v == version), LEGACY)


def counts_idf_per_kb(index: str) -> bool:
    """Whether the collection of ``index`` (an :func:`index_id`) weighs keywords by each knowledge
    base's own IDF rather than Qdrant's over the whole collection."""
    return version_of(index) not in COLLECTION_IDF


def _index(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


class LexicalEncoder:
    """Stateless text → :class:`SparseVector` (BM25 with ``k1``, ``b`` and an assumed mean length) in
    one analysis ``version``."""

    def __init__(
        self, version: KeywordsVersion = CURRENT, *, k1: float = 1.2, b: float = 0.75, avg_len: float = 120.0
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"unknown keyword analysis {version!r}; known: {', '.join(VERSIONS)}")
        self.version = version
        self.k1, self.b, self.avg_len = k1, b, avg_len

    def document_terms(self, text: str, language: str | None = None) -> list[str]:
        """A stored chunk's terms; ``language``: the chunk's (``en1`` ignores it)."""
        if self.version == LEGACY:
            return english_terms(text)
        return _multilingual.document_terms(text, language)

    def query_words(self, text: str, languages: Iterable[str] = ()) -> list[frozenset[str]]:
        """A question's words, each as the set of terms it may match (its stems in ``languages``)."""
        if self.version == LEGACY:
            return list(dict.fromkeys(frozenset((t,)) for t in english_terms(text)))
        return _multilingual.query_words(text, languages)

    def encode_document(self, text: str, language: str | None = None) -> SparseVector:
        counts = Counter(_index(t) for t in self.document_terms(text, language))
        length = sum(counts.values())
        norm = self.k1 * (1 - self.b + self.b * length / self.avg_len)
        items = sorted(counts.items())
        return SparseVector(
            indices=[i for i, _ in items], values=[tf * (self.k1 + 1) / (tf + norm) for _, tf in items]
        )

    def encode_query(self, text: str, languages: Iterable[str] = ()) -> SparseVector:
        return self.encode_words(self.query_words(text, languages))

    @staticmethod
    def word_ids(words: Iterable[frozenset[str]]) -> list[frozenset[int]]:
        """Each of a question's words as the term ids it may match (how stored sparse vectors name
        terms): its coverage of a passage is read from the passage's stored vector, never re-analysed."""
        return [frozenset(_index(t) for t in word) for word in words]

    @staticmethod
    def encode_words(words: Iterable[frozenset[str]]) -> SparseVector:
        """The query vector of words :meth:`query_words` already analysed (search reuses them for the
        confidence evidence)."""
        indices = sorted({_index(t) for word in words for t in word})
        return SparseVector(indices=indices, values=[1.0] * len(indices))


_BY_VERSION: dict[str, LexicalEncoder] = {version: LexicalEncoder(version) for version in VERSIONS}


def keyword_encoder(version: str | None) -> LexicalEncoder:
    """The encoder of ``version`` (None: a knowledge base recorded before versions, :data:`LEGACY`)."""
    encoder = _BY_VERSION.get(version or LEGACY)
    if encoder is None:
        raise ValueError(f"unknown keyword analysis {version!r}; known: {', '.join(VERSIONS)}")
    return encoder
