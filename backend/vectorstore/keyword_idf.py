"""Keyword IDF counted per knowledge base, so one tenant's documents never weigh another's keywords.

Every knowledge base on an encoder shares one collection. Qdrant's ``Modifier.IDF`` counts a term's
document frequency over the whole collection, so a word common in one tenant's documents became cheap
in every other tenant's search: python-faq's test questions beside a second knowledge base holding
the man pages lost 0.029 sparse and 0.011 hybrid nDCG@10, the top 5 changing for 53 of 72 questions
(``bench/tenant_keywords.py``; docs/benchmarks.md).

Collections made since keyword analysis ``ml3`` have no modifier. Each point carries its sparse
vector's term ids in the integer-indexed payload field :data:`~backend.vectorstore.base.TERMS`, and a
search's query weights are the knowledge base's own IDF, Qdrant's formula
``ln(1 + (N - n + 0.5) / (n + 0.5))`` with ``N`` the knowledge base's points and ``n`` those holding
the term, counted by the store under the knowledge base's filter. Alone in its collection a knowledge
base therefore ranks exactly as it did with the modifier (a test holds both engines to that).

The counts are kept :data:`TTL_S` (five minutes) per (knowledge base, term) and forgotten when this
process writes to or deletes from the knowledge base, so what a worker in this process just stored
counts at once; another process's writes count within the TTL. A term the knowledge base does not
hold is left out of the query (it can match nothing there).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from backend.vectorstore.base import SparseVector

TTL_S = 300.0
"""How long a count is reused. A term's IDF moves with the logarithm of its count, so a count some
minutes old ranks like a fresh one (and this process's own writes are counted at once); counting a term
most of a 100k-point knowledge base holds takes ~20 ms on Edge, a rare one well under 1 ms."""
MAX_TERMS_KEPT = 200_000
"""Counts kept at once over all knowledge bases (~100 bytes each); the cache empties when full."""


def idf(points: int, holding: int) -> float:
    """Qdrant's ``Modifier.IDF``: ``ln(1 + (N - n + 0.5) / (n + 0.5))``."""
    return math.log1p((points - holding + 0.5) / (holding + 0.5))


class KeywordStatistics:
    """Per-knowledge-base point and term counts for one collection, read through ``count_points``
    (points of a knowledge base) and ``count_term`` (its points whose :data:`TERMS` hold a term id)."""

    def __init__(
        self,
        count_points: Callable[[str], int],
        count_term: Callable[[str, int], int],
        *,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._count_points, self._count_term = count_points, count_term
        self._ttl_s, self._clock = ttl_s, clock
        self._kbs: dict[str, dict[int | None, tuple[float, int]]] = {}
        """kb id → term id → (counted at, points holding it); the key None holds the kb's points."""
        self._kept = 0
        self._forgotten = 0
        """Bumped by :meth:`forget`: a count begun before a write is not kept after it."""
        self._lock = threading.Lock()

    def points(self, kb_id: str) -> int:
        """The knowledge base's points: the ``N`` of its IDF."""
        return self._counted(kb_id, None)

    def weigh(self, kb_id: str, query: SparseVector) -> SparseVector:
        """``query`` with each term's weight multiplied by its IDF in ``kb_id``; terms it lacks dropped."""
        if not query.indices:
            return query
        points = self.points(kb_id)
        indices: list[int] = []
        values: list[float] = []
        for term, weight in zip(query.indices, query.values, strict=True):
            holding = self._counted(kb_id, term)
            if holding:
                indices.append(term)
                # Counted apart, a term can be newer than the point count (another process writing):
                # never more points holding a term than points.
                values.append(weight * idf(max(points, holding), holding))
        return SparseVector(indices, values)

    def _counted(self, kb_id: str, term: int | None) -> int:
        now = self._clock()
        with self._lock:
            cached = self._kbs.get(kb_id, {}).get(term)
            generation = self._forgotten
        if cached is not None and now - cached[0] <= self._ttl_s:
            return cached[1]
        counted = self._count_points(kb_id) if term is None else self._count_term(kb_id, term)
        with self._lock:
            if generation != self._forgotten:
                return counted
            if self._kept >= MAX_TERMS_KEPT:
                self._kbs.clear()
                self._kept = 0
            counts = self._kbs.setdefault(kb_id, {})
            self._kept += term not in counts
            counts[term] = (now, counted)
        return counted

    def forget(self, kb_id: str | None = None) -> None:
        """Drop the counts of ``kb_id`` (None: every knowledge base): this process changed its points."""
        with self._lock:
            self._forgotten += 1
            if kb_id is None:
                self._kbs.clear()
                self._kept = 0
            else:
                self._kept -= len(self._kbs.pop(kb_id, {}))
