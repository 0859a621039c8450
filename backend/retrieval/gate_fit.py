"""The gate's weights, chosen for what the gate is judged on: few false answers at few false refusals.

A question is answered when its best passage's score ``evidence · w`` reaches the cut, and the cut is
set to refuse at most 2 % of the answerable questions. So what matters is the *left tail* of the
answerable questions' best scores against the bulk of the unanswerable ones. A logistic regression
fits the bulk of both and lets the tail fall where it may: on the shared sets it put most weight on
the keyword signals and, on python-faq in a store of its own, answered 15 % of the other set's
questions where the plain cosine alone answered 6 % at the same false refusals (docs/benchmarks.md,
issue #15).

So the direction of ``w`` is searched directly: every non-negative combination of the features that
vary, on a grid of tenths (each feature first scaled by its spread, so a tenth means as much for each),
scored by the mean false-answer rate at cuts refusing 1, 2, 3 and 5 % of the answerable questions (a
band, not one point, so two tail questions cannot decide it alone), ties broken by how far apart the
two kinds of question score (d'). The winner's scale and intercept
are then fitted by a one-variable logistic regression (Platt scaling, classes weighed equally), so the
result is still a probability and still monotone in every signal.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from backend.retrieval.confidence import fit, rates, refusal_threshold

STEP = 10
"""Grid resolution: weights in tenths."""
BAND = (0.01, 0.02, 0.03, 0.05)
"""False-refusal rates at which the false answers are averaged."""


def _best(questions: Sequence[np.ndarray], direction: np.ndarray) -> np.ndarray:
    """Each question's best passage score along ``direction``."""
    return np.asarray([float((rows @ direction).max()) for rows in questions])


def _band_false_answers(answerable: np.ndarray, unanswerable: np.ndarray) -> float:
    """Mean false-answer rate at the cuts the gate would set for each false-refusal rate of :data:`BAND`."""
    positives, negatives = answerable.tolist(), unanswerable.tolist()
    cuts = [refusal_threshold(positives, rate) for rate in BAND]
    return float(np.mean([rates(positives, negatives, cut)["false_answer"] for cut in cuts]))


def _directions(varying: list[int], features: int) -> list[np.ndarray]:
    out = []
    for parts in itertools.product(range(STEP + 1), repeat=len(varying)):
        if sum(parts) == STEP:
            direction = np.zeros(features)
            direction[varying] = np.asarray(parts, dtype=np.float64) / STEP
            out.append(direction)
    return out


Group = tuple[Sequence[np.ndarray], Sequence[np.ndarray]]
"""One knowledge base's questions: the answerable ones' retrieved passages (all of them: the gate
answers on whichever is best), and the unanswerable ones'."""


def search_gate(groups: Sequence[Group]) -> tuple[np.ndarray, float]:
    """Weights and intercept of the gate. Several groups (the shipped fit: one per benchmark set) are
    judged each at its own cuts, as a tuned knowledge base is, and their false answers averaged."""
    stacked = np.concatenate(
        [rows for answerable, unanswerable in groups for rows in [*answerable, *unanswerable]]
    )
    features = stacked.shape[1]
    spread = stacked.std(axis=0)
    varying = [i for i in range(features) if spread[i] > 1e-9]
    scale = np.zeros(features)
    scale[varying] = 1 / spread[varying]

    def judged(weights: np.ndarray) -> tuple[float, float]:
        """Mean false answers over the band, then (to break ties) minus the separation d'."""
        best = [(_best(a, weights), _best(u, weights)) for a, u in groups]
        false_answers = float(np.mean([_band_false_answers(p, n) for p, n in best]))
        separation = float(
            np.mean([(p.mean() - n.mean()) / (np.sqrt((p.var() + n.var()) / 2) + 1e-9) for p, n in best])
        )
        return false_answers, -separation

    weights = min((direction * scale for direction in _directions(varying, features)), key=judged)
    # Platt scaling: the probability of "answerable" given the best score, classes weighed equally.
    positives = np.concatenate([_best(a, weights) for a, _ in groups])
    negatives = np.concatenate([_best(u, weights) for _, u in groups])
    x = np.concatenate([positives, negatives])[:, None]
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    balance = np.concatenate(
        [np.full(len(positives), 0.5 / len(positives)), np.full(len(negatives), 0.5 / len(negatives))]
    )
    (scale_of_score,), intercept = fit(x, y, l2=0.0, sample_weight=balance * len(y))
    return weights * scale_of_score, intercept
