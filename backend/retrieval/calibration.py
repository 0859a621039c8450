"""Fit chat's "I don't know" gate: the confidence model's weights and its cut.

The gate sees one number per question, its best passage's confidence, and must tell a question the
knowledge base answers from one it does not. So its weights are chosen on exactly that
(:func:`fit_gate`, :mod:`backend.retrieval.gate_fit`): answerable questions' best passages against
unanswerable questions' best passages, judged by the false answers at a few percent of false
refusals. Fitting on every retrieved passage instead (answering or not, within answerable questions)
learns to *rank* passages, and ranking evidence is not gating evidence (docs/benchmarks.md, #15).

Unanswerable questions are what the weights need, and a knowledge base's pairs seldom have them. So
``kbchat tune`` refits the weights only when the pairs include at least :data:`MIN_ROWS` questions
marked ``"answerable": false`` (questions the assistant must decline: off-topic, a competitor's
product, what the content does not cover). Otherwise it keeps the shipped weights (fitted on the
shared train splits, where each set's questions are the other's unanswerables) and refits the cut:
the highest confidence that refuses at most 2 % of the pairs' questions whose answer was retrieved.
That per-knowledge-base cut is most of what tuning gains.

The passage-level fit still has a job: which of a question's passages answers it. Its weights
(:class:`~backend.retrieval.confidence.PassageWeights`) weigh the sentences the offline answerer
quotes, and are refitted on every tune whose pairs retrieve enough answering and other passages.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.retrieval.confidence import (
    MIN_ROWS,
    ConfidenceModel,
    PassageWeights,
    fit,
    rates,
    refusal_threshold,
    shipped,
    stored_cut,
)
from backend.retrieval.config import RetrievalSettings
from backend.retrieval.gate_fit import search_gate
from backend.retrieval.passages import Passage, evidence_rows
from backend.retrieval.search import Retriever
from backend.retrieval.tuning import JudgedQuery, answers

Answerable = tuple[np.ndarray, Sequence[bool]]
"""One answerable question's top passages: evidence rows, and whether each answers it."""


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
    unanswerable: Sequence[str] = (),
    config: RetrievalSettings,
    top_k: int,
) -> Calibration:
    """Search each question as chat would (``top_k`` passages: ``KBCHAT_CHAT__TOP_K``) and refit on what
    comes back: ``judged`` are questions with their answer, ``unanswerable`` ones it must decline."""
    # Score the evidence only: no thresholds, and the shipped model (the weights are refitted here).
    probe = config.with_(min_confidence=None, min_relevance=None, calibration=None)

    def passages(query: str) -> list[Passage]:
        found = retriever.search(kb_id=kb_id, query=query, top_k=top_k, config=probe).passages
        return [p for p in found if p.evidence is not None]

    questions: list[Answerable] = []
    for j in judged:
        if scored := passages(j.query):
            questions.append((evidence_rows(scored), [answers(j, p.document_id, p.text) for p in scored]))
    declined = [evidence_rows(scored) for query in unanswerable if (scored := passages(query))]
    calibration = fit_questions(questions, declined, model_id=model_id, base=shipped(model_id))
    calibration.report["questions"] = len(judged)
    calibration.report["unanswerable_questions"] = len(unanswerable)
    return calibration


def fit_gate(
    groups: Sequence[tuple[Sequence[Answerable], Sequence[np.ndarray]]],
) -> tuple[np.ndarray, float]:
    """Weights and intercept that tell the answerable questions whose answer was retrieved from the
    unanswerable ones, judged as the gate is (:func:`backend.retrieval.gate_fit.search_gate`); one
    group per knowledge base."""
    return search_gate(
        [
            (
                [rows for rows, relevant in answerable if any(relevant) and len(rows)],
                [rows for rows in unanswerable if len(rows)],
            )
            for answerable, unanswerable in groups
        ]
    )


def fit_passages(questions: Sequence[Answerable]) -> tuple[PassageWeights | None, int, int]:
    """Passage weights fitted on every retrieved passage (None: fewer than :data:`MIN_ROWS` answering
    or other passages), and how many of each there were."""
    labels = np.asarray([bool(x) for _, relevant in questions for x in relevant], dtype=float)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives < MIN_ROWS or negatives < MIN_ROWS:
        return None, positives, negatives
    weights, intercept = fit(np.concatenate([rows for rows, _ in questions]), labels)
    rounded = tuple(round(float(w), 4) for w in weights)
    return PassageWeights(coefficients=rounded, intercept=round(intercept, 4)), positives, negatives


def fit_questions(
    questions: Sequence[Answerable],
    unanswerable: Sequence[np.ndarray] = (),
    *,
    model_id: str | None,
    base: ConfidenceModel,
    source: str = "kbchat tune, on this knowledge base's pairs",
) -> Calibration:
    """The gate for these questions: weights refitted when there are enough unanswerable ones (else
    ``base``'s), and the cut that refuses at most 2 % of the questions whose answer was retrieved."""
    found = [(r, np.asarray(rel, dtype=bool)) for r, rel in questions if any(rel)]
    declined = [r for r in unanswerable if len(r)]
    passage, positives, negatives = fit_passages(questions)
    report: dict[str, Any] = {"answer_retrieved": len(found), "unanswerable_retrieved": len(declined)}
    report |= {"positive_passages": positives, "negative_passages": negatives}
    if len(found) < MIN_ROWS:
        report["applied"] = False
        report["reason"] = (
            f"the answer was retrieved for {len(found)} of the pairs' questions; setting the cut needs at "
            f"least {MIN_ROWS}, so the current confidence model stays (the shipped one unless an earlier "
            "tune refitted it). Add pairs (questions with the document or passage that answers them) and "
            "tune again."
        )
        return Calibration(None, report)
    if len(declined) >= MIN_ROWS:
        weights, intercept = fit_gate([(questions, declined)])
        report["weights"] = f"refitted on {len(found)} answerable and {len(declined)} unanswerable questions"
    else:
        weights, intercept = np.asarray(base.coefficients, dtype=np.float64), base.intercept
        report["weights"] = (
            f"shipped: refitting them needs at least {MIN_ROWS} questions this knowledge base must decline "
            f'(pairs with "answerable": false), {len(declined)} given; the cut is this knowledge base\'s own'
        )
    report["passage_weights"] = (
        f"refitted on {positives} answering and {negatives} other passages"
        if passage
        else f"kept: refitting them needs at least {MIN_ROWS} answering and {MIN_ROWS} other passages"
    )
    draft = ConfidenceModel(coefficients=tuple(weights), intercept=intercept, threshold=0.5)
    best = [float(draft.probabilities(r).max()) for r, _ in found]
    threshold = refusal_threshold(best)
    if declined:  # in-sample: the questions it was fitted on
        against, kind = [float(draft.probabilities(r).max()) for r in declined], "false_answer"
    else:  # each answerable question again, its answering passages removed (the others' do not change)
        against = [float(draft.probabilities(r[~rel]).max()) if not rel.all() else 0.0 for r, rel in found]
        kind = "false_answer_without_own_document"
    estimate = rates(best, against, threshold)
    model = ConfidenceModel(
        coefficients=tuple(round(float(w), 4) for w in weights),
        intercept=round(float(intercept), 4),
        passage=passage or base.passage,
        threshold=stored_cut(threshold),
        keyword_floor=base.keyword_floor,
        encoder=model_id,
        fitted={
            "source": source,
            "answerable": len(found),
            "unanswerable": len(declined),
            "false_refusal": round(estimate["false_refusal"], 4),
            kind: round(estimate["false_answer"], 4),
            "median_best_confidence": round(statistics.median(best), 4),
        },
    )
    report |= {"applied": True, "model": model.model_dump(mode="json"), "shipped_threshold": base.threshold}
    return Calibration(model, report)
