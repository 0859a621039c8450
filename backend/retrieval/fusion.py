"""Weighted reciprocal-rank fusion, exactly as Qdrant computes it, for offline tuning.

``kbchat tune`` fetches each query's dense and sparse candidate lists once and replays the fusion here
for every candidate setting, instead of querying Qdrant once per setting. A test proves this replay
ranks exactly as Qdrant's own ``RrfQuery`` does (tests/backend/test_retrieval_quality.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.vectorstore.base import Fusion


def position_score(rank: int, k: int, weight: float) -> float:
    """Qdrant's ``1 / ((rank + 1) / weight + k - 1)`` for a 0-based ``rank``."""
    return 1.0 / ((rank + 1) / weight + k - 1)


def fuse(dense_ids: Sequence[str], sparse_ids: Sequence[str], fusion: Fusion) -> list[str]:
    """Ids ranked by summed weighted RRF score; ties keep dense order first (stable)."""
    scores: dict[str, float] = {}
    for ids, weight in ((dense_ids, fusion.dense_weight), (sparse_ids, fusion.sparse_weight)):
        for rank, pid in enumerate(ids):
            scores[pid] = scores.get(pid, 0.0) + position_score(rank, fusion.k, weight)
    return sorted(scores, key=lambda pid: -scores[pid])
