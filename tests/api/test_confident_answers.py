"""Chat answers when a passage answers, says "I couldn't find it" when none does, and quotes the
sentence that answers: the Leeds example from issue 15, end to end through /chat (JSON and SSE), the
OpenAI-compatible endpoint with the official client, and search's confidence; then `tune` refitting
the confidence model for one knowledge base only."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from backend.retrieval.confidence import shipped
from tests.conftest import AUTH, create_kb, ingest, wait_for_job
from tests.fixtures_docs import RETURNS, SHOP_ARTICLES, shop_declines, shop_pairs

LEEDS = "scanned at our warehouse in Leeds."


@pytest.fixture
def leeds(client: TestClient) -> str:
    kb_id = create_kb(client, "shoes")
    ingest(client, kb_id, [("returns.txt", RETURNS.encode(), "text/plain")])
    return kb_id


def _sse(response) -> list[tuple[str, dict]]:
    events, kind = [], None
    for line in response.iter_lines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:") and kind:
            events.append((kind, json.loads(line[5:])))
    return events


def test_a_multi_topic_passage_answers_with_the_sentence_that_names_leeds(
    client: TestClient, leeds: str
) -> None:
    body = client.post(
        f"/v1/knowledge-bases/{leeds}/chat", json={"message": "Where is the warehouse?"}
    ).json()
    assert LEEDS in body["answer"] and body["answer"].endswith("[1]"), body
    assert "45 days" not in body["answer"]  # the other topics of the passage are not quoted
    assert body["citations"][0]["title"] == "returns.txt" or body["citations"][0]["source"] == "returns.txt"
    assert body["confidence"] is not None and body["confidence"] >= shipped().threshold

    with client.stream(
        "POST",
        f"/v1/knowledge-bases/{leeds}/chat",
        json={"message": "Where is the warehouse?", "stream": True},
    ) as response:
        events = _sse(response)
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    done = dict(events)["done"]
    assert streamed.strip() == body["answer"] and done["confidence"] == body["confidence"]


def test_the_official_openai_client_gets_the_leeds_answer(client: TestClient, leeds: str) -> None:
    from openai import OpenAI

    openai = OpenAI(
        base_url="http://testserver/v1", api_key=AUTH["Authorization"].split()[1], http_client=client
    )
    completion = openai.chat.completions.create(
        model="shoes", messages=[{"role": "user", "content": "Where is the warehouse?"}]
    )
    assert LEEDS in completion.choices[0].message.content
    assert completion.model_extra["citations"]
    assert completion.model_extra["confidence"] >= shipped().threshold


def test_a_question_the_knowledge_base_cannot_answer_is_refused(client: TestClient, leeds: str) -> None:
    body = client.post(
        f"/v1/knowledge-bases/{leeds}/chat", json={"message": "Who painted the Mona Lisa?"}
    ).json()
    assert "couldn't find" in body["answer"] and body["citations"] == []
    assert body["confidence"] < shipped().threshold


def test_search_shows_each_passage_confidence_and_its_evidence(client: TestClient, leeds: str) -> None:
    hit = client.post(
        f"/v1/knowledge-bases/{leeds}/search", json={"query": "Where is the warehouse?"}
    ).json()["results"][0]
    assert 0 <= hit["confidence"] <= 1
    assert (
        hit["evidence"]["coverage"] == 1.0 and hit["evidence"]["sentence_cosine"] >= hit["evidence"]["cosine"]
    )
    strict = client.post(
        f"/v1/knowledge-bases/{leeds}/search",
        json={"query": "Where is the warehouse?", "min_confidence": 1.0},
    ).json()
    assert strict["results"] == []


def test_tune_without_questions_to_decline_keeps_the_shipped_weights_and_sets_its_own_cut(
    client: TestClient,
) -> None:
    kb_id = create_kb(client, "cut only")
    ingest(client, kb_id, [(name, text.encode(), "text/plain") for name, text in SHOP_ARTICLES.items()])
    job = client.post(f"/v1/knowledge-bases/{kb_id}/tune", json={"pairs": shop_pairs()})
    result = wait_for_job(client, job.json()["job_id"])
    confidence = result["result"]["confidence"]
    assert confidence["applied"] is True and confidence["weights"].startswith("shipped"), confidence
    model, default = confidence["model"], shipped()
    assert (model["coefficients"], model["intercept"]) == (list(default.coefficients), default.intercept)
    assert model["threshold"] != default.threshold
    assert "false_answer_without_own_document" in model["fitted"]


def test_a_pair_either_names_its_answer_or_is_marked_unanswerable(client: TestClient, leeds: str) -> None:
    for bad in (
        {"query": "Where is the warehouse?"},
        {"query": "Who won the cup?", "answerable": False, "source": "returns.txt"},
    ):
        response = client.post(f"/v1/knowledge-bases/{leeds}/tune", json={"pairs": [bad]})
        assert response.status_code == 422 and "answerable" in response.text, response.text
    response = client.post(f"/v1/knowledge-bases/{leeds}/tune", json={"pairs": shop_declines()})
    assert response.status_code == 422 and "answer too" in response.text, response.text


def test_tune_with_one_document_keeps_the_shipped_model_and_says_why(client: TestClient, leeds: str) -> None:
    pairs = [{"query": "Where is the warehouse?", "source": "returns.txt"}]
    job = client.post(f"/v1/knowledge-bases/{leeds}/tune", json={"pairs": pairs})
    assert job.status_code == 202, job.text
    result = wait_for_job(client, job.json()["job_id"])
    assert result["status"] == "succeeded", result
    confidence = result["result"]["confidence"]
    assert confidence["applied"] is False and "at least" in confidence["reason"]
    assert client.get(f"/v1/knowledge-bases/{leeds}").json()["retrieval"]["calibration"] is None


def test_tune_refits_the_confidence_model_for_its_knowledge_base_only(client: TestClient) -> None:
    tuned, other = create_kb(client, "tuned"), create_kb(client, "other")
    files = [(name, text.encode(), "text/plain") for name, text in SHOP_ARTICLES.items()]
    ingest(client, tuned, files)
    ingest(client, other, files)
    pairs, declines = shop_pairs(), shop_declines()
    job = client.post(f"/v1/knowledge-bases/{tuned}/tune", json={"pairs": pairs + declines})
    result = wait_for_job(client, job.json()["job_id"])
    assert result["status"] == "succeeded", result
    confidence = result["result"]["confidence"]
    assert confidence["applied"] is True, confidence
    assert confidence["answer_retrieved"] == len(pairs) and confidence["positive_passages"] >= len(pairs)
    assert confidence["unanswerable_retrieved"] == len(declines) and "refitted" in confidence["weights"]
    stored = client.get(f"/v1/knowledge-bases/{tuned}").json()["retrieval"]["calibration"]
    assert stored == confidence["model"] and stored["encoder"] and all(c >= 0 for c in stored["coefficients"])
    assert 0 <= stored["fitted"]["false_refusal"] <= 0.02
    assert stored["fitted"]["false_answer"] <= 0.1  # the declined questions, under the cut it chose
    assert client.get(f"/v1/knowledge-bases/{other}").json()["retrieval"]["calibration"] is None

    # Chat on the tuned knowledge base gates on its own model; the other keeps the shipped one.
    question = {"message": "Where do orders ship from?"}
    body = client.post(f"/v1/knowledge-bases/{tuned}/chat", json=question).json()
    assert "Rotterdam" in body["answer"] and body["confidence"] >= stored["threshold"]
    hit = client.post(f"/v1/knowledge-bases/{tuned}/search", json={"query": question["message"]}).json()
    plain = client.post(f"/v1/knowledge-bases/{other}/search", json={"query": question["message"]}).json()
    assert hit["results"][0]["evidence"] == plain["results"][0]["evidence"]  # same evidence, other weights
    assert hit["results"][0]["confidence"] != plain["results"][0]["confidence"]
