"""Refit the confidence model on one knowledge base's own question–passage pairs.

Each judged question is searched as chat searches it; its top passages become rows, labelled by
whether they answer it (its document, or the passage text it names). The other questions' answers
that show up are the negatives: for the gate, a question whose own document is missing looks exactly
like that. The fit keeps the shipped model when the pairs cannot support one (too few positives or
negatives) and says why, so a small knowledge base is never worse off for being tuned.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.retrieval.confidence import MIN_ROWS, ConfidenceModel, fit, rates, refusal_threshold, shipped
from backend.retrieval.config import RetrievalSettings
from backend.retrieval.search import Retriever, evidence_rows
from backend.retrieval.tuning import JudgedQuery, answers


@dataclass(slots=True)
class Calibration:
    model: ConfidenceModel | None
    """The refitted model (None: the pairs could not support one; the current model stays)."""
    report: dict[str, Any] = field(default_factory=dict)


def calibrate(
    retriever: Retriever,
    *,
    kb_id: str,
    model_id: str,
    judged: Sequence[JudgedQuery],
    config: RetrievalSettings,
    top_k: int,
) -> Calibration:
    """Search each judged question as chat would (``top_k`` passages: ``KBCHAT_CHAT__TOP_K``) and refit
    on what comes back."""
    # Score the evidence only: no thresholds, and the shipped model (the weights are refitted here).
    probe = config.with_(min_confidence=None, min_relevance=None, calibration=None)
    questions: list[tuple[np.ndarray, list[bool]]] = []
    for j in judged:
        passages = retriever.search(kb_id=kb_id, query=j.query, top_k=top_k, config=probe).passages
        scored = [p for p in passages if p.evidence is not None]
        if scored:
            questions.append((evidence_rows(scored), [answers(j, p.document_id, p.text) for p in scored]))
    calibration = fit_questions(questions, model_id=model_id)
    calibration.report["questions"] = len(judged)
    return calibration


def fit_questions(
    questions: Sequence[tuple[np.ndarray, Sequence[bool]]],
    *,
    model_id: str | None,
    source: str = "kbchat tune, on this knowledge base's pairs",
) -> Calibration:
    """Fit on each question's top passages (evidence rows, and whether each answers it).

    The threshold refuses at most 2 % of the questions whose answer was retrieved. The false-answer
    figure is a leave-one-out estimate: each such question again, with its own answering passages
    removed (features are absolute, so the others' do not change), answered or not."""
    rows = [r for r, _ in questions]
    labels = [bool(x) for _, relevant in questions for x in relevant]
    found = [(r, np.asarray(rel, dtype=bool)) for r, rel in questions if any(rel)]
    positives, negatives = sum(labels), len(labels) - sum(labels)
    report: dict[str, Any] = {"answer_retrieved": len(found)}
    report |= {"positive_passages": positives, "negative_passages": negatives}
    if positives < MIN_ROWS or negatives < MIN_ROWS:
        report["applied"] = False
        report["reason"] = (
            f"{positives} answering and {negatives} other passages were retrieved for the pairs; a "
            f"refit needs at least {MIN_ROWS} of each, so the current confidence model stays (the shipped "
            "one unless an earlier tune refitted it). Add pairs (questions with the document or passage "
            "that answers them) and tune again."
        )
        return Calibration(None, report)
    weights, intercept = fit(np.concatenate(rows), np.asarray(labels, dtype=float))
    draft = ConfidenceModel(coefficients=tuple(weights), intercept=intercept, threshold=0.5)
    best = [float(draft.probabilities(r).max()) for r, _ in found]
    threshold = refusal_threshold(best)
    without = [float(draft.probabilities(r[~rel]).max()) if not rel.all() else 0.0 for r, rel in found]
    estimate = rates(best, without, threshold)
    model = ConfidenceModel(
        coefficients=tuple(round(float(w), 4) for w in weights),
        intercept=round(intercept, 4),
        threshold=round(threshold, 4),
        encoder=model_id,
        fitted={
            "source": source,
            "rows": len(labels),
            "positives": positives,
            "false_refusal": round(estimate["false_refusal"], 4),
            "false_answer_without_own_document": round(estimate["false_answer"], 4),
            "median_best_confidence": round(statistics.median(best), 4),
        },
    )
    report |= {
        "applied": True,
        "model": model.model_dump(mode="json"),
        "shipped_threshold": shipped(model_id).threshold,
    }
    return Calibration(model, report)
