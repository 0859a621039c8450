"""The confidence model, its fit and threshold, sentence scoring, and the gate report's figures,
checked against values computed by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from backend.keywords import LexicalEncoder
from backend.llm import ExtractiveProvider, Prompt, Source
from backend.retrieval.confidence import (
    FEATURES,
    ConfidenceModel,
    Evidence,
    fit,
    rates,
    refusal_threshold,
    shipped,
    stored_cut,
)
from backend.retrieval.evidence import coverage, runners_up_of
from backend.retrieval.passages import Passage
from backend.retrieval.sentences import SentenceVectors
from backend.text.sentences import sentence_spans
from ingest.evaluation.gate import Asked, gate_report

unit = st.floats(min_value=-1, max_value=1, allow_nan=False)


def _evidence(*values: float) -> Evidence:
    return Evidence(*values)


@given(values=st.tuples(*[unit] * len(FEATURES)), feature=st.sampled_from(FEATURES), step=unit)
def test_confidence_never_falls_when_evidence_rises(values, feature, step) -> None:
    model = shipped()
    before = _evidence(*values)
    after = replace(before, **{feature: getattr(before, feature) + abs(step)})
    assert model.probability(after) >= model.probability(before)


def test_a_model_with_a_negative_weight_is_refused() -> None:
    with pytest.raises(ValidationError, match="non-negative"):
        ConfidenceModel(coefficients=(1, -1, 0, 0, 0, 0, 0), intercept=0, threshold=0.5)
    with pytest.raises(ValidationError, match="features"):
        ConfidenceModel(features=("a",) * 7, coefficients=(1,) * 7, intercept=0, threshold=0.5)


def test_probability_is_the_logistic_of_the_weighted_sum() -> None:
    model = ConfidenceModel(coefficients=(2, 1, 0, 0, 0, 0, 0), intercept=-1, threshold=0.5)
    assert model.probability(_evidence(0.5, 1.0, 0, 0, 0, 0, 0)) == pytest.approx(1 / (1 + math.exp(-1.0)))
    rows = np.asarray([[0.5, 1.0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    assert model.probabilities(rows) == pytest.approx([1 / (1 + math.exp(-1.0)), 1 / (1 + math.e)])


def test_a_model_stored_before_the_foreign_feature_scores_as_it_did() -> None:
    """A knowledge base's calibration tuned by an earlier release has five features: it still loads,
    with the new feature's weight at 0, and gives every passage the probability it gave before."""
    stored = {
        "features": ["cosine", "sentence_cosine", "coverage", "keyword", "rerank"],
        "coefficients": [1.5, 2.9, 2.8, 0.9, 0.0],
        "intercept": -7.4,
        "threshold": 0.02,
    }
    model = ConfidenceModel.model_validate(stored)
    assert model.features == FEATURES and model.coefficients == (1.5, 2.9, 2.8, 0.9, 0.0, 0.0, 0.0)
    logit = -7.4 + 1.5 * 0.4 + 2.9 * 0.6 + 2.8 * 0.5 + 0.9 * 0.2
    assert model.probability(_evidence(0.4, 0.6, 0.5, 0.2, 0.0, 0.9, 0.7)) == pytest.approx(
        1 / (1 + math.exp(-logit))
    )
    with pytest.raises(ValidationError, match="at least 7"):  # five features, but not those five
        ConfidenceModel.model_validate({**stored, "features": ["a", "b", "c", "d", "e"]})


def test_a_model_stored_before_the_runners_up_feature_scores_as_it_did() -> None:
    """Six features and passage weights (a tuned fit of the release before): both read with the
    runners-up weight at 0, so every passage keeps its probability and its quoting weight."""
    stored = {
        "features": list(FEATURES[:6]),
        "coefficients": [15.5, 10.4, 6.8, 0.0, 0.0, 0.0],
        "intercept": -15.2,
        "passage": {"coefficients": [0.0, 4.0, 2.7, 0.7, 0.0, 0.0], "intercept": -6.8},
        "threshold": 0.0154,
    }
    model = ConfidenceModel.model_validate(stored)
    assert model.coefficients == (15.5, 10.4, 6.8, 0.0, 0.0, 0.0, 0.0)
    assert model.passage is not None and model.passage.coefficients == (0.0, 4.0, 2.7, 0.7, 0.0, 0.0, 0.0)
    evidence = _evidence(0.4, 0.6, 0.5, 0.2, 0.0, 0.0, 0.9)  # a runners-up value it never weighed
    assert model.probability(evidence) == pytest.approx(1 / (1 + math.exp(-(-15.2 + 6.2 + 6.24 + 3.4))))
    assert model.answer_weight(evidence) == pytest.approx(1 / (1 + math.exp(-(-6.8 + 2.4 + 1.35 + 0.14))))
    with pytest.raises(ValidationError, match="at least 7"):  # six features, one coefficient short
        ConfidenceModel.model_validate({**stored, "coefficients": [1.0] * 5})


def test_runners_up_is_the_mean_of_the_second_to_tenth_dense_scores_in_a_big_knowledge_base() -> None:
    ten = [0.9, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
    assert runners_up_of(ten, 100) == pytest.approx(sum(ten[1:]) / 9)
    twelve = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01, 0.0]
    mean = sum(twelve[1:10]) / 9  # the 11th and 12th are not read
    assert runners_up_of(twelve, 5000) == pytest.approx(mean)
    assert runners_up_of([], 5000) == 0.0


def test_in_a_small_knowledge_base_the_best_passage_stands_in_for_the_runners_up() -> None:
    """Three help articles have no neighbours on any topic: their runners-up say nothing, so the best
    cosine stands in, wholly at one passage, in proportion as the knowledge base is short of 100."""
    assert runners_up_of([0.7], 1) == 0.7
    assert runners_up_of([0.9, 0.5, 0.3], 3) == pytest.approx(0.03 * 0.4 + 0.97 * 0.9)
    ten = [0.9, *[0.4] * 9]
    assert runners_up_of(ten, 50) == pytest.approx(0.5 * 0.4 + 0.5 * 0.9)
    small, big = runners_up_of(ten, 10), runners_up_of(ten, 100)
    assert small > big  # the same scores count for more where few neighbours could exist
    # A filter that leaves three passages of a big knowledge base: those three are what was searched.
    assert runners_up_of([0.9, 0.5, 0.3], 5000) == pytest.approx(0.03 * 0.4 + 0.97 * 0.9)


def test_fit_separates_and_keeps_weights_non_negative() -> None:
    # The label follows feature 0; feature 1 is anti-correlated noise, which an unconstrained fit would
    # give a negative weight.
    x = np.zeros((40, len(FEATURES)))
    x[:20, 0], x[20:, 0] = 0.8, 0.1
    x[:20, 1], x[20:, 1] = 0.1, 0.3
    y = np.asarray([1.0] * 20 + [0.0] * 20)
    weights, intercept = fit(x, y)
    assert (weights >= 0).all() and weights[1] == 0.0 and weights[0] > 1
    model = ConfidenceModel(coefficients=tuple(weights), intercept=intercept, threshold=0.5)
    probabilities = model.probabilities(x)
    assert probabilities[:20].min() > 0.5 > probabilities[20:].max()


def test_a_stored_cut_is_rounded_down_so_it_keeps_the_question_it_was_set_by() -> None:
    assert stored_cut(0.27627) == 0.2762 and stored_cut(0.2) == 0.2 and stored_cut(0.99999) == 0.9999


def test_the_refusal_threshold_refuses_at_most_two_percent() -> None:
    best = [i / 100 for i in range(100)]  # 0.00 … 0.99
    assert refusal_threshold(best) == 0.02  # refuses 0.00 and 0.01: 2 of 100
    assert refusal_threshold([0.7, 0.2, 0.9]) == 0.2  # 2 % of 3 is 0: refuse none
    assert rates([0.1, 0.5, 0.9], [0.05, 0.6], 0.5) == {"false_refusal": 1 / 3, "false_answer": 1 / 2}


def test_sentence_spans_point_into_the_text() -> None:
    text = "  Refunds take five days. ok.\nParcels ship from Leeds!  Short. The last sentence here"
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Refunds take five days.",
        "Parcels ship from Leeds!",
        "The last sentence here",
    ]
    assert sentence_spans("tiny") == [(0, 4)]


def test_sentence_vectors_are_encoded_once_per_encoder(embedder) -> None:
    cache = SentenceVectors(max_entries=3)
    sentences = ["Refunds take five days.", "Parcels ship from Leeds.", "Refunds take five days."]
    first = cache.embed(embedder, sentences)
    assert (cache.hits, cache.misses) == (1, 2)  # the repeated sentence is encoded once
    again = cache.embed(embedder, sentences[:2])
    assert (cache.hits, cache.misses) == (3, 2) and np.allclose(again, first[:2])
    assert first.shape == (3, embedder.dimension) and np.allclose(first[0], first[2])


def test_keyword_coverage() -> None:
    keywords = LexicalEncoder()

    def text(passage: str) -> set[str]:
        return set(keywords.document_terms(passage, "en"))

    question = keywords.query_words("Where is the warehouse?", ["en"])
    assert coverage(question, text("scanned at our warehouses in Leeds")) == 1.0
    assert coverage(keywords.query_words("refund warehouse", ["en"]), text("our warehouse")) == 0.5
    assert coverage([], text("anything")) == 0.0
    # A word analysed in two languages counts once, matched by either stem.
    bilingual = keywords.query_words("Rückerstattungen Lager", ["de", "en"])
    assert len(bilingual) == 2
    assert coverage(bilingual, set(keywords.document_terms("Die Rückerstattung dauert.", "de"))) == 0.5


def test_coverage_read_from_a_stored_sparse_vector_equals_the_analysis() -> None:
    """Searches read a passage's keyword coverage from its stored sparse vector's term ids instead of
    analysing its text again (0.5-0.8 ms a passage): the two must agree, question by question."""
    keywords = LexicalEncoder()
    passages = [
        ("Refunds reach the original card within 5 business days after the parcel is scanned.", "en"),
        ("gcloud compute routes create NAME --network=NETWORK creates a new route.", "en"),
        ("Die Rückerstattung dauert fünf Werktage, nachdem das Paket gescannt wurde.", "de"),
    ]
    questions = [
        ("How long do refunds take?", ["en"]),
        ("create a new route", ["en"]),
        ("Rückerstattungen Lager", ["de", "en"]),
    ]
    for text, language in passages:
        ids = frozenset(keywords.encode_document(text, language).indices)
        for question, languages in questions:
            words = keywords.query_words(question, languages)
            analysed = coverage(words, set(keywords.document_terms(text, language)))
            assert coverage(keywords.word_ids(words), ids) == analysed, (text, question)
    assert (
        coverage(
            keywords.word_ids(keywords.query_words("create a new route", ["en"])),
            frozenset(keywords.encode_document(passages[1][0], "en").indices),
        )
        == 1.0
    )


def test_the_answerer_quotes_retrieval_scores_without_encoding() -> None:
    def never(*_args: object) -> list[float]:
        raise AssertionError("scored sentences must not be encoded again")

    source = Source(
        1,
        "Returns",
        "Shoes may be returned. Refunds take five days. The warehouse is in Leeds.",
        (
            ("Shoes may be returned.", 0.2),
            ("Refunds take five days.", 0.3),
            ("The warehouse is in Leeds.", 0.8),
        ),
    )
    other = Source(2, "Sizes", "Sizes run small.", (("Sizes run small.", 0.7),))
    answer = ExtractiveProvider(never, max_chars=60).compose(
        Prompt("Where is the warehouse?", [source, other])
    )
    # Source order kept; the budget leaves out the third-best sentence; each quote cited.
    assert answer == "The warehouse is in Leeds. [1] Sizes run small. [2]"


def _passage(relevance: float, *evidence: float) -> Passage:
    return Passage(
        id="p",
        text="t",
        score=0,
        relevance=relevance,
        document_id="d",
        title="",
        source="",
        heading=[],
        chunk_index=0,
        char_start=0,
        char_end=1,
        evidence=Evidence(*evidence),
    )


def test_gate_report_figures_by_hand() -> None:
    # Confidence = sigmoid(10 * cosine - 5): 0.5 at cosine 0.5; the model's cut 0.5.
    model = ConfidenceModel(coefficients=(10, 0, 0, 0, 0, 0, 0), intercept=-5, threshold=0.5)
    asked = [
        Asked("q", [_passage(0.7, 0.7, 0, 0, 0, 0, 0)], [True], True),  # answered (both gates)
        Asked(
            "q", [_passage(0.4, 0.4, 0, 0, 0, 0, 0)], [True], True
        ),  # refused by confidence, answered by cosine
        Asked("q", [_passage(0.2, 0.2, 0, 0, 0, 0, 0)], [True], True),  # refused by both
        Asked("q", [_passage(0.9, 0.9, 0, 0, 0, 0, 0)], [False], True),  # relevant not retrieved: not counted
        Asked("q", [_passage(0.35, 0.35, 0, 0, 0, 0, 0)], [False], False),  # unanswerable: cosine answers it
        Asked("q", [_passage(0.6, 0.6, 0, 0, 0, 0, 0)], [False], False),  # unanswerable: both answer it
    ]
    report = gate_report(asked, model)
    assert (report.questions, report.found, report.unanswerable) == (4, 3, 2)
    assert report.confidence == {"threshold": 0.5, "false_refusal": 2 / 3, "false_answer": 1 / 2}
    assert report.cosine == {"threshold": 0.3, "false_refusal": 1 / 3, "false_answer": 1.0}
    threshold, false_refusal, false_answer = report.curve["confidence"][0]
    assert (threshold, false_refusal, false_answer) == (0.0, 0.0, 1.0)  # a cut of 0 answers everything


def test_the_gate_search_weighs_the_signal_that_separates_the_tail() -> None:
    """Answerable questions: feature 0 from 0.60 up, feature 1 at 0.5. Unanswerable ones: feature 0 at
    0.3 but feature 1 at 0.9, a misleading signal. The searched gate puts no weight on feature 1,
    answers every answerable question above every unanswerable one, and stays a probability."""
    from backend.retrieval.gate_fit import search_gate

    def rows(f0: float, f1: float) -> np.ndarray:
        return np.asarray([[f0, f1, *[0.0] * (len(FEATURES) - 2)]])

    answerable = [rows(0.6 + i / 1000, 0.5) for i in range(100)]
    unanswerable = [rows(0.3, 0.9) for _ in range(100)]
    weights, intercept = search_gate([(answerable, unanswerable)])
    assert weights[0] > 0 and weights[1] == 0.0 and (weights >= 0).all()
    model = ConfidenceModel(coefficients=tuple(weights), intercept=intercept, threshold=0.5)
    lowest = min(float(model.probabilities(r)[0]) for r in answerable)
    highest = max(float(model.probabilities(r)[0]) for r in unanswerable)
    assert 0.5 < lowest <= 1 and 0 <= highest < 0.5


def test_the_gate_search_counts_false_answers_as_the_gate_does() -> None:
    """The search scores every direction at once; each column's figure is what refusal_threshold and
    rates give that direction's best scores one by one (ties at the cut included: scores on a grid)."""
    from backend.retrieval.gate_fit import BAND, _band_false_answers

    rng = np.random.default_rng(15)
    for answerable_n, unanswerable_n in ((1, 5), (7, 3), (60, 40), (101, 0)):
        answerable = rng.integers(0, 20, (answerable_n, 12)) / 20
        unanswerable = rng.integers(0, 20, (unanswerable_n, 12)) / 20
        expected = [
            np.mean(
                [
                    rates(
                        answerable[:, j].tolist(),
                        unanswerable[:, j].tolist(),
                        refusal_threshold(answerable[:, j].tolist(), r),
                    )["false_answer"]
                    for r in BAND
                ]
            )
            for j in range(12)
        ]
        assert _band_false_answers(answerable, unanswerable) == pytest.approx(expected)


def test_a_cached_sentence_is_never_another_knowledge_bases(embedder) -> None:
    """Passages stored without sentence vectors have theirs encoded by searches and cached; a tenant
    must not tell from a fast search that another tenant's passages hold the same sentence."""
    cache = SentenceVectors()
    query = embedder.embed_queries(["Where is the warehouse?"])[0]
    text = "Refunds take five days. Parcels are scanned at our warehouse in Leeds."
    for kb_id, expected in (("tenant-a", (0, 2)), ("tenant-b", (0, 4)), ("tenant-a", (2, 4))):
        scored = cache.score(embedder, query, [text], [{"kb_id": kb_id, "text": text}])
        assert (cache.hits, cache.misses) == expected, kb_id
        assert [s.text for s in scored[0]][-1] == "Parcels are scanned at our warehouse in Leeds."
