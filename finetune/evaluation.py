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


def positive_scores(model: Any, data: RetrievalSet, *, batch_size: int = 64) -> np.ndarray:
    """Cosine of every held-out query with each passage judged relevant to it."""
    pairs = [(q, p) for q, judged in data.relevant.items() for p, grade in judged.items() if grade > 0]
    pairs = [(q, p) for q, p in pairs if q in data.queries and p in data.corpus]
    if not pairs:
        return np.zeros(0, dtype=np.float32)
    options = {"batch_size": batch_size, "normalize_embeddings": True, "convert_to_numpy": True}
    queries = model.encode([data.queries[q] for q, _ in pairs], show_progress_bar=False, **options)
    passages = model.encode([data.corpus[p] for _, p in pairs], show_progress_bar=False, **options)
    return np.asarray(np.sum(queries * passages, axis=1), dtype=np.float32)


MIN_CALIBRATION_PAIRS = 5
THRESHOLD_RANGE = (0.05, 0.95)


def calibrated_threshold(before: np.ndarray, after: np.ndarray, threshold_before: float) -> float | None:
    """The relevance threshold for the new encoder, from the one the replaced encoder used.

    Fine-tuning moves the whole cosine scale (MiniLM's 0.3 can be far too strict or too lax
    afterwards), so the threshold is carried over in units of the held-out relevant pairs' spread:
    it stays as many standard deviations below their mean cosine as it was. That keeps the share of
    relevant passages it drops (the knowledge base's false "I don't know" rate) about where it was,
    and is stable on the few dozen pairs a held-out split has (a quantile of them is not).
    None: too few held-out pairs, or no spread, to say.
    """
    if len(before) < MIN_CALIBRATION_PAIRS or len(after) < MIN_CALIBRATION_PAIRS:
        return None
    spread_before, spread_after = float(np.std(before)), float(np.std(after))
    if spread_before < 1e-3 or spread_after < 1e-3:
        return None
    z = (threshold_before - float(np.mean(before))) / spread_before
    low, high = THRESHOLD_RANGE
    return round(min(max(float(np.mean(after)) + z * spread_after, low), high), 4)
