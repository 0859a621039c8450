"""Hybrid fusion of the dense and the keyword candidate lists.

Two methods, both over Qdrant's own indexed candidate lists (a fixed pool per list):

- ``convex`` (default): ``alpha · dense + (1 - alpha) · sparse`` of the scores min-max normalised
  within each list (a passage missing from a list scores 0 there). Unlike rank fusion it keeps how
  *sure* each list is; on both benchmark sets it beats RRF and the better single mode
  (docs/benchmarks.md). Qdrant has no server-side weighted fusion of normalised scores, so this
  step runs here, over at most two pools of candidates: microseconds.
- ``rrf``: Qdrant's weighted reciprocal-rank fusion, executed inside Qdrant; :func:`rrf` replays it
  exactly (tested) so the tuner can score settings offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from backend.vectorstore.base import Fusion, Hit


def position_score(rank: int, k: int, weight: float) -> float:
    """Qdrant's ``1 / ((rank + 1) / weight + k - 1)`` for a 0-based ``rank``."""
    return 1.0 / ((rank + 1) / weight + k - 1)


def rrf(dense_ids: Sequence[str], sparse_ids: Sequence[str], fusion: Fusion) -> list[str]:
    """Ids ranked by summed weighted RRF score, as Qdrant's ``RrfQuery`` ranks them."""
    scores: dict[str, float] = {}
    for ids, weight in ((dense_ids, fusion.dense_weight), (sparse_ids, fusion.sparse_weight)):
        for rank, pid in enumerate(ids):
            scores[pid] = scores.get(pid, 0.0) + position_score(rank, fusion.k, weight)
    return sorted(scores, key=lambda pid: -scores[pid])


def _normalised(hits: Sequence[Hit], reference: int | None) -> dict[str, float]:
    """Scores min-max normalised over the first ``reference`` hits; hits past them are floored at 0,
    as a passage missing from the list is."""
    if not hits:
        return {}
    head = hits[:reference] if reference else hits
    low, high = min(h.score for h in head), max(h.score for h in head)
    span = high - low
    return {h.id: max(0.0, (h.score - low) / span) if span > 0 else 1.0 for h in hits}


def convex(
    dense_hits: Sequence[Hit],
    sparse_hits: Sequence[Hit],
    alpha: float,
    limit: int | None = None,
    *,
    reference: int | None = None,
) -> list[Hit]:
    """Hits of both lists (the first ``limit``), re-scored by the convex combination and sorted (ties:
    dense order first). ``reference``: each list is normalised over its first that many hits, so a
    deeper list (a search asking for more results) leaves the first results' scores unchanged."""
    dense, sparse = _normalised(dense_hits, reference), _normalised(sparse_hits, reference)
    by_id = {h.id: h for h in (*sparse_hits, *dense_hits)}  # prefer the dense list's copy
    order = list(dict.fromkeys([h.id for h in dense_hits] + [h.id for h in sparse_hits]))
    fused = {pid: alpha * dense.get(pid, 0.0) + (1 - alpha) * sparse.get(pid, 0.0) for pid in order}
    ranked = sorted(order, key=lambda pid: -fused[pid])[:limit]
    return [replace(by_id[pid], score=fused[pid]) for pid in ranked]
