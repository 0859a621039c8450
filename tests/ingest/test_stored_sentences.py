"""Sentence vectors encoded at ingestion and stored with each chunk: a search scores the sentences of
what it finds without encoding them, an edit encodes only the changed chunk's sentences, and vectors
that do not fit (another encoder, another sentence count, damaged) are ignored, never misread."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.retrieval.stored_sentences import current, pack, sentence_fields, unpack
from backend.text.sentences import sentence_spans
from backend.vectorstore.base import SENTENCES
from tests.conftest import AUTH, create_kb, upload, wait_for_job

GUIDE = """## Returns

Customers may return unworn shoes within 45 days of delivery for a full refund. Sale items can be
exchanged but not refunded. Refunds reach the original card within 5 business days after the parcel
is scanned at our warehouse in Leeds.

## Accounts

An account owner can add up to fifty team members on the Business plan. Two-factor authentication
accepts TOTP apps and hardware security keys.
"""


def _payloads(client: TestClient, kb_id: str) -> list[dict]:
    vectors = client.app.state.services.encoders.base.vectors  # type: ignore[attr-defined]
    return [r.payload for batch in vectors.scan(kb_id=kb_id, vectors=False) for r in batch]


def _texts_encoded(client: TestClient) -> float:
    registry = client.app.state.services.telemetry.registry  # type: ignore[attr-defined]
    return registry.get_sample_value("kbchat_encoder_batch_size_sum") or 0.0


def _search_sentences(client: TestClient, kb_id: str) -> tuple[int, int]:
    """Cache hits and misses of one search's sentence scoring, the cache emptied first."""
    sentences = client.app.state.services.retriever.sentences  # type: ignore[attr-defined]
    sentences.clear()
    sentences.hits = sentences.misses = 0
    response = client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": "Where is the warehouse?"})
    assert response.status_code == 200, response.text
    assert "Leeds" in response.json()["results"][0]["text"]
    return sentences.hits, sentences.misses


def test_a_search_reads_the_stored_sentence_vectors_instead_of_encoding_them(
    client: TestClient, embedder
) -> None:
    kb_id = create_kb(client)
    job = wait_for_job(
        client, upload(client, kb_id, [("guide.md", GUIDE.encode(), "text/markdown")])[0]["job_id"]
    )
    assert job["status"] == "succeeded", job

    payloads = _payloads(client, kb_id)
    assert len(payloads) == job["result"]["chunks"] >= 1
    for payload in payloads:
        spans = sentence_spans(payload["text"])
        stored = unpack(payload, embedder.model_id, len(spans))
        assert stored is not None and stored.shape == (len(spans), embedder.dimension)
        encoded = embedder.embed_documents([payload["text"][s:e] for s, e in spans])
        assert np.abs((stored * encoded).sum(axis=1) - 1).max() < 0.005  # int8 keeps the direction

    registry = client.app.state.services.telemetry.registry  # type: ignore[attr-defined]
    stored_before = registry.get_sample_value("kbchat_search_sentences_total", {"source": "stored"}) or 0.0
    assert _search_sentences(client, kb_id) == (0, 0)  # nothing encoded, nothing even looked up
    stored = registry.get_sample_value("kbchat_search_sentences_total", {"source": "stored"}) - stored_before
    # Every chunk is in the re-rank's pool and among the results: each sentence scored once, not twice.
    assert stored == sum(len(sentence_spans(p["text"])) for p in payloads)

    vectors = client.app.state.services.encoders.base.vectors  # type: ignore[attr-defined]
    document_id = payloads[0]["document_id"]
    context = vectors.neighbours(kb_id=kb_id, document_id=document_id, first=0, last=len(payloads))
    assert context and all(SENTENCES not in p and p["text"] for p in context)  # text for context, no vectors


def test_without_the_setting_chunks_carry_none_and_search_encodes_them(make_settings, embedder) -> None:
    app = create_app(make_settings(chunking={"sentence_vectors": False}), embedder=embedder)
    with TestClient(app) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client)
        wait_for_job(
            client, upload(client, kb_id, [("guide.md", GUIDE.encode(), "text/markdown")])[0]["job_id"]
        )
        assert all(SENTENCES not in p for p in _payloads(client, kb_id))
        _, misses = _search_sentences(client, kb_id)
        assert misses > 0  # encoded at query time (then read from the cache by the confidence step)


def test_an_edit_encodes_the_sentences_of_the_changed_chunk_only(client: TestClient) -> None:
    kb_id = create_kb(client)
    first = upload(client, kb_id, [("guide.md", GUIDE.encode(), "text/markdown")])[0]
    wait_for_job(client, first["job_id"])
    before = {p["text_hash"]: p[SENTENCES] for p in _payloads(client, kb_id)}
    assert len(before) >= 2, "the guide's two sections should be two chunks"

    encoded = _texts_encoded(client)
    edited = GUIDE.replace("hardware security keys", "passkeys stored on a phone")
    job = wait_for_job(
        client, upload(client, kb_id, [("guide.md", edited.encode(), "text/markdown")])[0]["job_id"]
    )
    assert job["result"]["embedded"] == 1, job
    after = _payloads(client, kb_id)
    changed = [p for p in after if p["text_hash"] not in before]
    assert len(changed) == 1 and "passkeys" in changed[0]["text"]
    assert all(p[SENTENCES] == before[p["text_hash"]] for p in after if p["text_hash"] in before)
    # The changed chunk and its sentences: nothing else went through the encoder.
    assert _texts_encoded(client) - encoded == 1 + len(sentence_spans(changed[0]["text"]))


def test_stored_vectors_that_do_not_fit_are_ignored() -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(3, 8)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    field = pack(rows, "model-a")
    back = unpack({SENTENCES: field}, "model-a", 3)
    assert back is not None and np.abs((back * rows).sum(axis=1) - 1).max() < 0.001
    assert current(field, "model-a") and not current(field, "model-b") and not current(None, "model-a")
    assert unpack({SENTENCES: field}, "model-b", 3) is None  # another encoder's vectors
    assert unpack({SENTENCES: field}, "model-a", 4) is None  # the text splits differently now
    assert unpack({SENTENCES: {**field, "v": 0}}, "model-a", 3) is None  # an older sentence splitter
    assert unpack({SENTENCES: {**field, "int8": "not base64!"}}, "model-a", 3) is None
    assert unpack({SENTENCES: {**field, "scale": field["scale"][:8]}}, "model-a", 3) is None
    assert unpack({SENTENCES: "garbage"}, "model-a", 3) is None
    assert unpack({}, "model-a", 3) is None


def test_a_sentence_repeated_across_chunks_is_encoded_once(embedder) -> None:
    shared = "Refunds reach the original card within 5 business days."
    texts = [f"Sale items can be exchanged. {shared}", f"{shared} Parcels are scanned in Leeds.", shared]
    asked: list[str] = []

    def embed(batch: list[str]) -> np.ndarray:
        asked.extend(batch)
        return embedder.embed_documents(batch)

    fields = sentence_fields(texts, embed, embedder.model_id)
    assert sorted(asked) == sorted({shared, "Sale items can be exchanged.", "Parcels are scanned in Leeds."})
    for text, field in zip(texts, fields, strict=True):
        spans = sentence_spans(text)
        stored = unpack({SENTENCES: field}, embedder.model_id, len(spans))
        assert stored is not None
        encoded = embedder.embed_documents([text[s:e] for s, e in spans])
        assert np.abs((stored * encoded).sum(axis=1) - 1).max() < 0.005  # each row is its own sentence
