"""Training data: pair parsing with line-numbered errors, the by-document split (no leak), crops,
hard-negative mining that skips the top band, and pairs harvested from liked answers."""

from __future__ import annotations

import json

import pytest

from backend.errors import InvalidInput
from finetune.data.cropping import cropped_pairs
from finetune.data.pairs import TrainingPair, data_hash, parse_pairs_jsonl, retrieval_set, split_by_document
from finetune.mining import mine_hard_negatives


def test_pairs_file_errors_name_the_line() -> None:
    good = json.dumps({"query": "q", "positive": "p", "negatives": ["n"], "doc_id": "d"})
    assert parse_pairs_jsonl([good, ""]) == [TrainingPair("q", "p", ("n",), "d")]
    with pytest.raises(InvalidInput, match="line 2 is not JSON"):
        parse_pairs_jsonl([good, "{oops"])
    with pytest.raises(InvalidInput, match=r"line 1: positive: Field required"):
        parse_pairs_jsonl([json.dumps({"query": "q"})])
    with pytest.raises(InvalidInput, match="line 1: answer: Extra inputs"):
        parse_pairs_jsonl([json.dumps({"query": "q", "positive": "p", "answer": "x"})])
    with pytest.raises(InvalidInput, match="no pairs found"):
        parse_pairs_jsonl(["", "  "])


def test_split_keeps_every_document_on_one_side() -> None:
    pairs = [
        TrainingPair(f"question {i}", f"answer of doc {i % 10}", doc_id=f"d{i % 10}") for i in range(100)
    ]
    train, held = split_by_document(pairs, eval_fraction=0.2, seed=1)
    assert len(train) + len(held) == 100
    assert {p.doc_id for p in train}.isdisjoint({p.doc_id for p in held})
    assert len({p.doc_id for p in held}) == 2
    assert split_by_document(list(reversed(pairs)), eval_fraction=0.2, seed=1)[1] != []  # order-independent
    assert {p.doc_id for p in split_by_document(list(reversed(pairs)), seed=1)[1]} == {p.doc_id for p in held}
    with pytest.raises(InvalidInput, match="at least two documents"):
        split_by_document([TrainingPair("a", "b", doc_id="x"), TrainingPair("c", "d", doc_id="x")])


def test_retrieval_set_counts_equal_corpus_text_as_relevant() -> None:
    held = [TrainingPair("q1", "in corpus"), TrainingPair("q2", "not in corpus")]
    data = retrieval_set(held, {"c1": "in corpus", "c2": "other"})
    assert data.relevant["q0"] == {"c1": 1}
    (added,) = data.relevant["q1"]
    assert data.corpus[added] == "not in corpus" and len(data.corpus) == 3


def test_crops_are_two_spans_of_the_same_passage() -> None:
    passage = " ".join(f"word{i}" for i in range(100))
    pairs = cropped_pairs([passage, "too short to crop"], pairs_per_passage=3, seed=0)
    assert len(pairs) == 3
    for pair in pairs:
        assert pair.query in passage and pair.positive in passage and pair.query != pair.positive
        assert 4 <= len(pair.query.split()) <= 50 and pair.doc_id == "passage:0"
    assert cropped_pairs([passage], seed=0) == cropped_pairs([passage], seed=0)


def test_mining_skips_the_labelled_and_the_top_band(embedder) -> None:
    model = embedder.sentence_transformer
    corpus = [
        "Reset your password from the sign-in page.",  # a second, unlabelled answer: in the top band
        "Passwords can be changed under Account settings.",
        "Invoices are sent monthly by email.",
        "Our office is in Rotterdam.",
        "Refunds take five business days.",
    ]
    pair = TrainingPair("how do I reset my password", "Use the Forgot password link to reset it.", doc_id="a")
    other = TrainingPair(
        "how do I reset a password", "Password resets are done from the login screen.", doc_id="a"
    )
    (mined, _) = mine_hard_negatives(model, [pair, other], corpus, per_pair=1, skip_top=1, margin=1.0)
    assert mined.negatives and mined.negatives[0] not in (pair.positive, other.positive)  # same doc: never
    ranked = mine_hard_negatives(model, [pair], corpus, per_pair=5, skip_top=0, margin=1.0)[0].negatives
    assert mined.negatives[0] == ranked[1]  # the best remaining candidate was skipped
    strict = mine_hard_negatives(model, [pair], corpus, per_pair=5, skip_top=0, margin=0.5)[0].negatives
    # Within half the positive's score only unrelated passages remain: likely answers are never used.
    assert strict and not any("assword" in text for text in strict)


def test_data_hash_ignores_order() -> None:
    a, b = TrainingPair("q1", "p1"), TrainingPair("q2", "p2")
    assert data_hash([a, b]) == data_hash([b, a]) != data_hash([a])


def test_liked_answers_become_pairs_and_others_do_not(client) -> None:
    from finetune.data.harvest import liked_pairs
    from tests.conftest import create_kb, ingest
    from tests.fixtures_docs import SHIPPING_TXT

    kb_id = create_kb(client)
    ingest(client, kb_id, [("shipping.txt", SHIPPING_TXT, "text/plain")])
    answers = {}
    for question, rating in (
        ("Where do orders ship from?", "up"),
        ("How long to Canada?", "down"),
        ("Hi?", None),
    ):
        reply = client.post(f"/v1/knowledge-bases/{kb_id}/chat", json={"message": question}).json()
        answers[question] = reply
        if rating:
            url = f"/v1/knowledge-bases/{kb_id}/messages/{reply['message_id']}/feedback"
            assert client.post(url, json={"rating": rating}).status_code == 201
    liked = answers["Where do orders ship from?"]
    assert liked["citations"], liked
    services = client.app.state.services
    with services.sessions() as session:
        pairs = liked_pairs(session, kb_id)
        assert liked_pairs(session, "another-kb") == []
    assert {p.query for p in pairs} == {"Where do orders ship from?"}
    assert {p.positive for p in pairs} == {c["text"] for c in liked["citations"]}
    assert all(p.doc_id == liked["citations"][0]["document_id"] for p in pairs)
