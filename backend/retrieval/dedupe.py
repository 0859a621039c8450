"""Collapse near-duplicate passages (the same paragraph in two documents, overlapping chunks).

Greedy over the ranked list: a hit is dropped when its cosine to an already kept hit reaches the
threshold. Each decision depends only on earlier hits, so the first results never change with top_k.
"""

from __future__ import annotations

import numpy as np

from backend.vectorstore.base import Hit


def collapse(hits: list[Hit], threshold: float) -> list[Hit]:
    kept: list[Hit] = []
    vectors: list[np.ndarray] = []
    for hit in hits:
        if hit.dense is not None and vectors and float(np.max(np.stack(vectors) @ hit.dense)) >= threshold:
            continue
        kept.append(hit)
        if hit.dense is not None:
            vectors.append(hit.dense)
    return kept
