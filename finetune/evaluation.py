"""Measure an encoder on a retrieval set: exact cosine search over the whole corpus, BEIR metrics.

Exact search (no index) on purpose: the evaluation gate compares encoders, and approximate search
would add noise that has nothing to do with them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from backend.retrieval.metrics import all_metrics
from finetune.data.pairs import RetrievalSet

log = logging.getLogger(__name__)
TOP = 100
METRICS = ("ndcg@10", "recall@10", "mrr@10", "recall@100")


def evaluate(model: Any, data: RetrievalSet, *, batch_size: int = 64) -> dict[str, float]:
    """Mean nDCG@10, Recall@10, MRR@10 and Recall@100 over ``data``'s queries."""
    if not data.queries:
        raise ValueError("the retrieval set has no queries")
    started = time.perf_counter()
    ids = list(data.corpus)
    options = {"batch_size": batch_size, "normalize_embeddings": True, "convert_to_numpy": True}
    docs = model.encode([data.corpus[i] for i in ids], show_progress_bar=False, **options)
    query_ids = list(data.queries)
    queries = model.encode([data.queries[q] for q in query_ids], show_progress_bar=False, **options)
    totals = dict.fromkeys(METRICS, 0.0)
    top = min(TOP, len(ids))
    for start in range(0, len(query_ids), 256):
        scores = queries[start : start + 256] @ docs.T  # (queries, corpus)
        best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        for row, qid in enumerate(query_ids[start : start + 256]):
            order = best[row][np.argsort(-scores[row, best[row]])]
            metrics = all_metrics([ids[i] for i in order], data.relevant.get(qid, {}))
            for name in METRICS:
                totals[name] += metrics[name]
    result = {name: round(total / len(query_ids), 4) for name, total in totals.items()}
    log.info(
        "evaluated on %d queries over %d passages in %.1fs: %s",
        len(query_ids),
        len(ids),
        time.perf_counter() - started,
        result,
    )
    return result
