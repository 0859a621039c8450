"""The per-knowledge-base keyword statistics: Qdrant's IDF formula, counts reused for their TTL and
forgotten on a write, never a count taken before a write kept after it. Counting through plain
functions over a dictionary here; through both real stores in test_vector_store.py."""

from __future__ import annotations

import math

import pytest

from backend.vectorstore.base import SparseVector
from backend.vectorstore.keyword_idf import KeywordStatistics, idf


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _stats(
    holding: dict[str, dict[int, int]], points: dict[str, int], clock: Clock, asked: list
) -> KeywordStatistics:
    def count_points(kb_id: str) -> int:
        asked.append((kb_id, None))
        return points[kb_id]

    def count_term(kb_id: str, term: int) -> int:
        asked.append((kb_id, term))
        return holding[kb_id].get(term, 0)

    return KeywordStatistics(count_points, count_term, ttl_s=60, clock=clock)


def test_idf_is_qdrants_formula() -> None:
    assert idf(10, 1) == pytest.approx(math.log(1 + 9.5 / 1.5))
    assert idf(10, 10) == pytest.approx(math.log(1 + 0.5 / 10.5))
    assert idf(1000, 1) > idf(1000, 10) > idf(1000, 999) > 0


def test_query_weights_are_the_knowledge_bases_idf_and_absent_terms_drop() -> None:
    asked: list = []
    stats = _stats({"a": {1: 2, 2: 10}, "b": {1: 10}}, {"a": 10, "b": 10}, Clock(), asked)
    weighed = stats.weigh("a", SparseVector([1, 2, 3], [1.0, 2.0, 1.0]))
    assert weighed.indices == [1, 2]
    assert weighed.values == pytest.approx([idf(10, 2), 2 * idf(10, 10)])
    assert stats.weigh("b", SparseVector([1], [1.0])).values == pytest.approx([idf(10, 10)])
    assert stats.weigh("a", SparseVector([], [])) == SparseVector([], [])


def test_counts_are_reused_for_their_ttl_and_forgotten_on_a_write() -> None:
    clock, asked = Clock(), []
    holding = {"a": {1: 2}, "b": {1: 3}}
    stats = _stats(holding, {"a": 10, "b": 10}, clock, asked)
    query = SparseVector([1], [1.0])
    stats.weigh("a", query)
    stats.weigh("b", query)
    assert len(asked) == 4
    clock.now = 59
    stats.weigh("a", query)
    assert len(asked) == 4  # within the TTL: nothing counted again
    holding["a"][1] = 5
    stats.forget("a")  # this process wrote to "a": its counts go, "b"'s stay
    assert stats.weigh("a", query).values == pytest.approx([idf(10, 5)])
    stats.weigh("b", query)
    assert asked[4:] == [("a", None), ("a", 1)]
    clock.now = 121  # another process's writes count after the TTL
    stats.weigh("b", query)
    assert asked[6:] == [("b", None), ("b", 1)]


def test_a_count_begun_before_a_write_is_not_kept_after_it() -> None:
    clock = Clock()
    holding = {"a": {1: 2}}

    def count_term(kb_id: str, term: int) -> int:
        found = holding[kb_id][term]
        holding[kb_id][term] = 7  # a write lands while this count is on its way back
        stats.forget(kb_id)
        return found

    stats = KeywordStatistics(lambda kb_id: 10, count_term, ttl_s=60, clock=clock)
    assert stats.weigh("a", SparseVector([1], [1.0])).values == pytest.approx([idf(10, 2)])
    assert stats.weigh("a", SparseVector([1], [1.0])).values == pytest.approx([idf(10, 7)])


def test_a_term_counted_after_the_points_never_outnumbers_them() -> None:
    """Another process filled the knowledge base after its points were counted: the term's weight stays
    positive and finite (the points are taken as at least those holding it)."""
    holding: dict[str, dict[int, int]] = {"a": {}}
    stats = _stats(holding, {"a": 3}, Clock(), [])
    assert stats.weigh("a", SparseVector([1], [1.0])).indices == []
    holding["a"][2] = 50  # counted after the three points were
    weighed = stats.weigh("a", SparseVector([2], [1.0]))
    assert weighed.values == pytest.approx([idf(50, 50)]) and weighed.values[0] > 0
