"""`kbchat eval` on a tiny generated BEIR dataset: exact figures we can work out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from backend.errors import InvalidInput
from backend.retrieval.beir import load_beir, query_languages
from backend.services import Services
from backend.settings import Settings
from backend.vectorstore.base import SearchMode
from ingest.evaluation.runner import evaluate

CORPUS = [
    {
        "_id": "c1",
        "title": "Router reset",
        "text": "Hold the reset button for ten seconds to restore factory settings.",
    },
    {"_id": "c2", "title": "Refunds", "text": "Refunds reach your card within five to ten business days."},
    {"_id": "c3", "title": "Shipping", "text": "Orders placed before noon ship the same day from Rotterdam."},
    {
        "_id": "c4",
        "title": "Refunds",
        "text": "Refunds reach your card within five to ten business days.",
    },  # = c2
]
QUERIES = [
    {"_id": "q1", "text": "how do I restore factory settings on the router"},
    {"_id": "q2", "text": "when will my refund arrive"},
    {"_id": "q3", "text": "where do orders ship from"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\tc1\t1\nq2\tc4\t1\nq3\tc3\t1\n"  # q2's answer is the duplicate


def write_dataset(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in CORPUS))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in QUERIES))
    (folder / "qrels" / "test.tsv").write_text(QRELS)
    return folder


def test_evaluate_gives_exact_figures(tmp_path: Path, embedder) -> None:
    dataset = load_beir(write_dataset(tmp_path / "tiny"), "test")
    services = Services.build(Settings(data_dir=tmp_path / "data", admin_token="x" * 20), embedder=embedder)
    try:
        report = evaluate(services, dataset, split="test", modes=[SearchMode.DENSE, SearchMode.HYBRID])
        assert services.encoders.base.vectors.count(kb_id="any") == 0
    finally:
        services.close()
    rows = {r.name: r for r in report.rows}
    assert report.queries == 3 and report.documents == 4 and report.chunks == 3  # c4 stored once, as c2
    for name in ("kbchat dense", "kbchat hybrid"):  # the stored duplicate stands for c2 and c4 at rank 1
        assert rows[name].metrics == {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}, (
            name
        )
    # The raw baseline knows no duplicates: c2 and c4 tie, c2 (first in the corpus) takes rank 1, so
    # q2's answer is at rank 2: nDCG 1/log2(3), reciprocal rank 1/2.
    raw = rows["raw sentence-transformers (exact)"].metrics
    assert raw["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1) / 3)
    assert raw["mrr@10"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert "BM25 (bm25s, whole documents)" in rows
    assert rows["kbchat dense"].latency_p50_ms > 0


def test_dataset_errors_say_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"corpus\.jsonl"):
        load_beir(tmp_path, "test")
    folder = write_dataset(tmp_path / "d")
    with pytest.raises(InvalidInput, match="available: test"):
        load_beir(folder, "dev")


OFF_TOPIC = [
    {"_id": "u1", "text": "Who painted the Mona Lisa?"},
    {"_id": "u2", "text": "What is the boiling point of mercury?"},
    {"_id": "u3", "text": "Which planet has the most moons?"},
]


def test_the_gate_answers_the_corpus_questions_and_refuses_the_others(tmp_path: Path, embedder) -> None:
    from ingest.evaluation.curve import plot

    dataset = load_beir(write_dataset(tmp_path / "tiny"), "test")
    other = tmp_path / "other"
    (other / "qrels").mkdir(parents=True)
    (other / "corpus.jsonl").write_text(json.dumps({"_id": "x", "title": "", "text": "Unrelated."}))
    (other / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in OFF_TOPIC))
    (other / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q['_id']}\tx\t1\n" for q in OFF_TOPIC)
    )
    services = Services.build(Settings(data_dir=tmp_path / "data", admin_token="x" * 20), embedder=embedder)
    try:
        report = evaluate(
            services,
            dataset,
            split="test",
            modes=[SearchMode.HYBRID],
            baseline=False,
            unanswerable=load_beir(other, "test"),
        )
    finally:
        services.close()
    gate = report.gates["hybrid"]
    assert (gate.questions, gate.found, gate.unanswerable) == (3, 3, 3)
    # Every corpus question is answered from its own document, every off-topic one refused.
    assert gate.confidence["false_refusal"] == 0.0 and gate.confidence["false_answer"] == 0.0
    assert gate.confidence["quote_precision"] == 1.0 and gate.confidence["quote_hit"] == 1.0
    assert report.unanswerable == "other"
    thresholds = [t for t, _, _ in gate.curve["confidence"]]
    assert thresholds == sorted(thresholds) and len(thresholds) == 101
    picture = tmp_path / "gate.png"
    plot(report, picture)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_queries_in_several_languages_get_a_row_each(tmp_path: Path, embedder) -> None:
    folder = write_dataset(tmp_path / "tiny")
    langs = {"q1": "en", "q2": "de", "q3": "en"}  # q2 is the one the raw baseline ranks second
    (folder / "queries.jsonl").write_text(
        "\n".join(json.dumps({**q, "lang": langs[q["_id"]]}) for q in QUERIES)
    )
    dataset = load_beir(folder, "test")
    assert dataset.languages == langs
    services = Services.build(Settings(data_dir=tmp_path / "data", admin_token="x" * 20), embedder=embedder)
    try:
        report = evaluate(services, dataset, split="test", modes=[SearchMode.DENSE])
    finally:
        services.close()
    rows = {r.name: r for r in report.rows}
    raw = rows["raw sentence-transformers (exact)"].by_language
    assert raw["en"]["ndcg@10"] == 1.0 and raw["de"]["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert raw["de"]["mrr@10"] == 0.5
    assert rows["kbchat dense"].by_language == {
        lang: {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0} for lang in ("en", "de")
    }


def test_query_languages_come_from_the_field_or_the_id_and_need_two() -> None:
    assert query_languages([{"_id": "de-0042", "text": "x"}, {"_id": "zh-cn-0001", "text": "y"}]) == {
        "de-0042": "de",
        "zh-cn-0001": "zh-cn",
    }
    assert query_languages([{"_id": "q1", "lang": "fr"}, {"_id": "q2", "lang": "es"}]) == {
        "q1": "fr",
        "q2": "es",
    }
    assert query_languages([{"_id": "en-1"}, {"_id": "en-2"}]) == {}  # one language: nothing to split
    assert query_languages([{"_id": "de-1"}, {"_id": "q2"}]) == {}  # q2 has none: no per-language rows


def test_an_encoder_outside_sentence_transformers_gets_its_own_raw_row(tmp_path: Path) -> None:
    from backend.encoder.usem3 import UseEmbedder

    dataset = load_beir(write_dataset(tmp_path / "tiny"), "test")
    services = Services.build(
        Settings(data_dir=tmp_path / "data", admin_token="x" * 20), embedder=UseEmbedder()
    )
    try:
        report = evaluate(services, dataset, split="test", modes=[SearchMode.DENSE])
    finally:
        services.close()
    raw = {r.name: r for r in report.rows}["raw use-multilingual-v3 (exact, whole documents)"]
    # c4 is its own document in the raw row: q2's answer ties with its copy c2 (same vector) at rank 1 or 2.
    assert raw.metrics["recall@10"] == 1.0 and raw.metrics["ndcg@10"] >= (2 + 1 / math.log2(3)) / 3


def test_the_tuned_gate_is_fitted_on_another_split_and_reported_beside(tmp_path: Path, embedder) -> None:
    """Sixteen support questions on eight one-answer documents, the same questions as the tune split:
    the tuned cut is the lowest best-passage confidence among them (2 % of 16 rounds down to none
    refused), so on the scored split no question is refused, whatever the shipped cut refuses."""
    from tests.fixtures_docs import PAIRS, TOPICS

    folder = tmp_path / "support"
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": f"d{i}", "title": "", "text": answer} for i, (_, answer) in enumerate(TOPICS)]
    queries = [{"_id": f"q{n}", "text": p["query"]} for n, p in enumerate(PAIRS)]
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"q{n}\t{p['doc_id']}\t1\n" for n, p in enumerate(PAIRS))
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    for split in ("train", "test"):
        (folder / "qrels" / f"{split}.tsv").write_text(qrels)
    services = Services.build(Settings(data_dir=tmp_path / "data", admin_token="x" * 20), embedder=embedder)
    try:
        report = evaluate(
            services,
            load_beir(folder, "test"),
            split="test",
            modes=[SearchMode.HYBRID],
            baseline=False,
            tuning=(load_beir(folder, "train"), None),
        )
    finally:
        services.close()
    gate = report.gates["hybrid"]
    assert gate.found == len(PAIRS) and gate.tuned["false_refusal"] == 0.0, gate.tuned
    assert gate.tuned["threshold"] <= gate.confidence["threshold"] or gate.confidence["false_refusal"] == 0.0
    assert len(gate.curve["confidence, tuned"]) == 101
