"""Collapse near-duplicate passages (the same paragraph in two documents, overlapping chunks).

Greedy over the ranked list: a hit is dropped when its cosine to an already kept hit reaches the
threshold. Each decision depends only on earlier hits, so the first results never change with top_k.
One similarity matrix for the whole list keeps this cheap even for a few hundred candidates.
"""

from __future__ import annotations

import numpy as np

from backend.vectorstore.base import Hit


def collapse(hits: list[Hit], threshold: float) -> list[Hit]:
    with_vectors = [i for i, h in enumerate(hits) if h.dense is not None]
    if len(with_vectors) < 2:
        return hits
    matrix = np.stack([v for h in hits if (v := h.dense) is not None])
    similar = (matrix @ matrix.T) >= threshold
    row_of = {hit_index: row for row, hit_index in enumerate(with_vectors)}
    kept: list[Hit] = []
    kept_rows: list[int] = []
    for i, hit in enumerate(hits):
        row = row_of.get(i)
        if row is not None and kept_rows and similar[row, kept_rows].any():
            continue
        kept.append(hit)
        if row is not None:
            kept_rows.append(row)
    return kept
