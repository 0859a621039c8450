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
two kinds of question score (d'). Every direction is scored in blocks, one matrix product and one
reduction per side (the figures a loop over directions gives; 6 s → 0.3 s for the shipped fit's 3,704
questions, so ``kbchat tune`` over thousands of pairs stays quick). The winner's scale and intercept
are then fitted by a one-variable logistic regression (Platt scaling, classes weighed equally), so the
result is still a probability and still monotone in every signal.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from backend.retrieval.confidence import fit

STEP = 10
"""Grid resolution: weights in tenths."""
BAND = (0.01, 0.02, 0.03, 0.05)
"""False-refusal rates at which the false answers are averaged."""


BLOCK = 256
"""Directions scored at once (a block of scores is rows × BLOCK floats)."""


class _Stacked:
    """One side of one group (answerable or not): every question's passages in one matrix, so all the
    directions of a block are scored in one product, and each question's best in one reduction."""

    def __init__(self, questions: Sequence[np.ndarray]) -> None:
        self.size = len(questions)
        self.rows = np.concatenate(list(questions)) if questions else np.zeros((0, 0))
        self.starts = np.cumsum([0, *(len(q) for q in questions[:-1])]) if questions else np.zeros(0, int)

    def best(self, directions: np.ndarray) -> np.ndarray:
        """Each question's best passage score along each direction: questions × directions."""
        if not self.size:
            return np.zeros((0, len(directions)))
        return np.maximum.reduceat(self.rows @ directions.T, self.starts, axis=0)


def _band_false_answers(answerable: np.ndarray, unanswerable: np.ndarray) -> np.ndarray:
    """Per direction (a column each): the mean false-answer rate at the cuts the gate would set for each
    false-refusal rate of :data:`BAND` (as :func:`refusal_threshold` and :func:`rates` compute them)."""
    directions = answerable.shape[1]
    if not len(unanswerable):
        return np.zeros(directions)
    ordered = np.sort(answerable, axis=0)
    rates_ = []
    for rate in BAND:
        if not len(ordered):
            cut = np.full(directions, 0.5)  # refusal_threshold of no questions
        else:
            allowed = math.floor(rate * len(ordered))
            cut = ordered[min(allowed, len(ordered) - 1)]
        rates_.append((unanswerable >= cut).mean(axis=0))
    return np.asarray(np.mean(rates_, axis=0), dtype=np.float64)


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

    sides = [(_Stacked(answerable), _Stacked(unanswerable)) for answerable, unanswerable in groups]
    candidates = np.asarray(_directions(varying, features)) * scale
    false_answers, separation = np.zeros(len(candidates)), np.zeros(len(candidates))
    for at in range(0, len(candidates), BLOCK):
        block = candidates[at : at + BLOCK]
        fa, sep = [], []
        for answerable_side, unanswerable_side in sides:
            p, n = answerable_side.best(block), unanswerable_side.best(block)
            fa.append(_band_false_answers(p, n))
            sep.append((p.mean(0) - n.mean(0)) / (np.sqrt((p.var(0) + n.var(0)) / 2) + 1e-9))
        false_answers[at : at + BLOCK] = np.mean(fa, axis=0)
        separation[at : at + BLOCK] = np.mean(sep, axis=0)
    # The fewest false answers over the band; ties to the widest separation; then to the first.
    weights = candidates[np.lexsort((-separation, false_answers))[0]]
    # Platt scaling: the probability of "answerable" given the best score, classes weighed equally.
    positives = np.concatenate([a.best(weights[None, :])[:, 0] for a, _ in sides])
    negatives = np.concatenate([u.best(weights[None, :])[:, 0] for _, u in sides])
    x = np.concatenate([positives, negatives])[:, None]
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    balance = np.concatenate(
        [np.full(len(positives), 0.5 / len(positives)), np.full(len(negatives), 0.5 / len(negatives))]
    )
    (scale_of_score,), intercept = fit(x, y, l2=0.0, sample_weight=balance * len(y))
    return weights * scale_of_score, intercept
