"""The offline extractive answerer and citation mapping."""

from __future__ import annotations

import asyncio

import pytest

from backend.chat.citations import cited_indices
from backend.encoder.sentence_transformer import SentenceTransformerEmbedder
from backend.llm import ExtractiveProvider, Prompt, Source
from backend.llm.base import Generation
from backend.llm.extractive import NOTHING_FOUND
from backend.services import _cosine_scorer
from backend.text.sentences import split_sentences

SOURCES = [
    Source(
        1,
        "Billing",
        "Invoices are emailed monthly. Refunds take five to ten business days to reach your card.",
    ),
    Source(2, "Shipping", "Orders ship from Rotterdam. Parcels to Canada take seven to twelve days."),
]


@pytest.fixture(scope="module")
def provider(embedder: SentenceTransformerEmbedder) -> ExtractiveProvider:
    return ExtractiveProvider(_cosine_scorer(lambda kb_id: embedder))


def test_quotes_the_best_sentence_and_cites_it(provider: ExtractiveProvider) -> None:
    answer = provider.compose(Prompt(question="How long does a refund take?", sources=SOURCES))
    assert answer.startswith("Refunds take five to ten business days")
    assert "[1]" in answer and "Rotterdam" not in answer


def test_streamed_pieces_join_to_the_whole_answer(provider: ExtractiveProvider) -> None:
    prompt = Prompt(question="Where do orders ship from?", sources=SOURCES)

    async def collect() -> list[str]:
        return [d.text async for d in provider.stream(Generation([], prompt))]

    pieces = asyncio.run(collect())
    assert len(pieces) > 3 and "".join(pieces) == provider.compose(prompt)


def test_no_sources_says_so(provider: ExtractiveProvider) -> None:
    assert provider.compose(Prompt(question="Anything?", sources=[])) == NOTHING_FOUND


def test_citation_markers() -> None:
    assert cited_indices("a [2] b [1] c [2] d [9] e [0]", available=3) == [2, 1]
    assert cited_indices("no markers", available=3) == []


def test_sentence_split() -> None:
    assert split_sentences("One sentence here. Another one there!\nA third line here") == [
        "One sentence here.",
        "Another one there!",
        "A third line here",
    ]


def test_a_repeated_question_is_encoded_once(embedder) -> None:
    """Retrieval and the extractive answerer both need the question's vector; so do repeat visitors."""
    import numpy as np

    question = "How long does a refund take to reach my card?"
    hits = embedder.query_cache_hits
    first = embedder.embed_queries([question])
    again = embedder.embed_queries([question])
    assert embedder.query_cache_hits == hits + 1
    assert np.array_equal(first, again) and first.shape == (1, embedder.dimension)
    again[0, 0] = 42.0  # a caller's change never reaches the cache
    assert embedder.embed_queries([question])[0, 0] == first[0, 0]
    batch = embedder.embed_queries([question, "Where do orders ship from?"])  # batches bypass the cache
    assert np.allclose(batch[0], first[0], atol=1e-5)


def test_one_tenants_cached_question_is_never_anothers(embedder, tmp_path) -> None:
    """A cached question answers faster; shared between knowledge bases, a tenant could probe whether
    another asked the same words. Searches keep each knowledge base's cache entries apart."""
    from backend.retrieval.search import Retriever
    from backend.serving.snapshot import single
    from backend.vectorstore.edge import EdgeVectorStore

    store = EdgeVectorStore(tmp_path, prefix="t", encoder_id="scoped", dimension=embedder.dimension)
    retriever = Retriever(single(embedder, store))
    question = "Is the Leeds warehouse closing next spring?"
    hits = embedder.query_cache_hits
    retriever.search(kb_id="tenant-a", query=question)
    retriever.search(kb_id="tenant-b", query=question)
    assert embedder.query_cache_hits == hits  # tenant b's first ask is encoded, not served from a's
    retriever.search(kb_id="tenant-a", query=question)
    assert embedder.query_cache_hits == hits + 1
    store.close()
