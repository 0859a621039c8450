"""The vector-store contract, run on both embedded backends (Qdrant Edge and qdrant-client's real
local mode); the server path by configuration."""

from __future__ import annotations

import socket
import zlib
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from backend.errors import Conflict, Unavailable
from backend.keywords import LexicalEncoder
from backend.keywords.encoder import KeywordsVersion
from backend.retrieval.stored_sentences import SPLIT_VERSION, current
from backend.vectorstore import ChunkRecord, SearchMode, point_id
from backend.vectorstore.base import SENTENCES, SearchFilters, VectorStore
from backend.vectorstore.cluster import ClusterSettings, collection_options, dense_search_params
from backend.vectorstore.edge import EdgeVectorStore
from backend.vectorstore.qdrant import QdrantVectorStore
from backend.vectorstore.qdrant_connection import make_client

DIM = 8
lexical = LexicalEncoder()


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _record(kb: str, doc: str, i: int, text: str) -> ChunkRecord:
    return ChunkRecord(
        id=point_id(doc, i, text),
        dense=_vec(zlib.crc32(f"{doc}:{i}".encode())),  # hash() differs per process; crc32 does not
        sparse=lexical.encode_document(text),
        payload={
            "kb_id": kb,
            "document_id": doc,
            "text": text,
            "title": doc,
            "source": doc,
            "heading": [],
            "chunk_index": i,
            "char_start": 0,
            "char_end": len(text),
        },
    )


CLUSTER = ClusterSettings(
    shard_number=6,
    replication_factor=2,
    write_consistency_factor=2,
    on_disk_payload=True,
    quantization="int8",
)
"""Every server layout option set: local mode takes the same arguments (and ignores them), so the whole
contract runs through the code path a Qdrant cluster gets."""


def open_store(kind: str, path: Path, encoder_id: str = "enc@1") -> VectorStore:
    if kind == "edge":
        return EdgeVectorStore(path / "edge", prefix="t", encoder_id=encoder_id, dimension=DIM)
    return QdrantVectorStore(
        make_client(url=None, path=path / "q"),
        prefix="t",
        encoder_id=encoder_id,
        dimension=DIM,
        cluster=CLUSTER if kind == "local-cluster" else None,
    )


@pytest.fixture(params=["edge", "local", "local-cluster"])
def store(tmp_path: Path, request: pytest.FixtureRequest):
    s = open_store(request.param, tmp_path)
    s.ensure_ready()
    yield s
    s.close()


def test_ids_are_deterministic_and_upserts_idempotent(store: QdrantVectorStore) -> None:
    assert point_id("d", 0, "x") == point_id("d", 0, "x") != point_id("d", 0, "y") != point_id("d", 1, "x")
    records = [_record("kb", "d1", i, f"text {i}") for i in range(5)]
    store.upsert(records)
    store.upsert(records)  # a retried job writes the same points
    assert store.count(kb_id="kb") == 5


def test_delete_document_keeps_current_version(store: QdrantVectorStore) -> None:
    old = [_record("kb", "d1", i, f"old {i}") for i in range(3)]
    new = [_record("kb", "d1", 0, "old 0"), _record("kb", "d1", 1, "new 1")]
    store.upsert(old + new + [_record("kb", "d2", 0, "other doc")])
    store.delete_document(kb_id="kb", document_id="d1", keep_ids=[r.id for r in new])
    assert store.count(kb_id="kb", document_id="d1") == 2
    assert store.count(kb_id="kb", document_id="d2") == 1


def test_knowledge_bases_never_see_each_other(store: QdrantVectorStore) -> None:
    store.upsert([_record("a", "d1", 0, "alpha secret"), _record("b", "d2", 0, "beta secret")])
    for mode in SearchMode:
        hits = store.search(
            kb_id="a", dense=_vec(1), sparse=lexical.encode_query("secret"), mode=mode, limit=10
        )
        assert [h.payload["kb_id"] for h in hits] == ["a"], mode
    store.delete_knowledge_base(kb_id="b")
    assert store.count(kb_id="a") == 1 and store.count(kb_id="b") == 0


def test_relevance_is_the_dense_cosine_in_every_mode(store: QdrantVectorStore) -> None:
    records = [_record("kb", "d", i, f"passage number {i} about routers") for i in range(6)]
    store.upsert(records)
    query = records[2].dense
    for mode in SearchMode:
        for hit in store.search(
            kb_id="kb", dense=query, sparse=lexical.encode_query("routers"), mode=mode, limit=6
        ):
            expected = float(np.dot(next(r.dense for r in records if r.id == hit.id), query))
            assert hit.relevance == pytest.approx(expected, abs=1e-4), mode
            stored = next(r.sparse for r in records if r.id == hit.id)
            assert hit.terms == frozenset(stored.indices), mode  # what the keyword coverage reads


def test_top_k_never_reorders_the_first_results(store: QdrantVectorStore) -> None:
    store.upsert(
        [_record("kb", f"d{i}", 0, f"router manual page {i} " + "reset " * (i % 4)) for i in range(40)]
    )
    sparse = lexical.encode_query("router reset")
    for mode in SearchMode:
        ranks = {
            k: [h.id for h in store.search(kb_id="kb", dense=_vec(3), sparse=sparse, mode=mode, limit=k)]
            for k in (3, 10, 30)
        }
        assert ranks[10][:3] == ranks[3] and ranks[30][:10] == ranks[10], mode


def test_filters_run_inside_the_store(store: QdrantVectorStore) -> None:
    def rec(doc: str, content_type: str, tags: list[str], created_at: float) -> ChunkRecord:
        r = _record("kb", doc, 0, f"router text {doc}")
        r.payload.update(content_type=content_type, tags=tags, created_at=created_at)
        return r

    store.upsert(
        [
            rec("d1", "text/markdown", ["billing", "faq"], 1_000.0),
            rec("d2", "text/html", ["faq"], 2_000.0),
            rec("d3", "text/plain", [], 3_000.0),
        ]
    )

    def docs(**filters: object) -> set[str]:
        hits = store.search(
            kb_id="kb",
            dense=_vec(1),
            sparse=lexical.encode_query("router"),
            mode=SearchMode.HYBRID,
            limit=10,
            filters=SearchFilters(**filters),
        )
        return {h.payload["document_id"] for h in hits}

    assert docs() == {"d1", "d2", "d3"}
    assert docs(document_ids=["d2", "d3"]) == {"d2", "d3"}
    assert docs(content_types=["text/markdown"]) == {"d1"}
    assert docs(tags=["faq"]) == {"d1", "d2"}
    assert docs(tags=["billing"], content_types=["text/html"]) == set()
    assert docs(created_after=1_500.0) == {"d2", "d3"}
    assert docs(created_after=1_500.0, created_before=2_500.0) == {"d2"}
    # Counting sees what a search with the same filters sees.
    for filters in (
        {},
        {"tags": ["faq"]},
        {"created_after": 1_500.0},
        {"tags": ["billing"], "content_types": ["text/html"]},
    ):
        assert store.count(kb_id="kb", filters=SearchFilters(**filters)) == len(docs(**filters)), filters


def test_neighbours_are_the_adjacent_chunks_in_order(store: QdrantVectorStore) -> None:
    store.upsert([_record("kb", "d", i, f"chunk {i}") for i in range(6)] + [_record("kb", "other", 2, "x")])
    got = store.neighbours(kb_id="kb", document_id="d", first=1, last=3)
    assert [c["text"] for c in got] == ["chunk 1", "chunk 2", "chunk 3"]


def test_another_encoder_is_refused_with_a_way_out(store: VectorStore) -> None:
    with pytest.raises(Conflict, match="KBCHAT_ENCODER__MODEL"):
        store.sibling(encoder_id="enc@2", dimension=DIM).ensure_ready()


def test_a_sibling_collection_takes_the_alias_atomically(store: VectorStore) -> None:
    store.upsert([_record("kb", "d", 0, "old model")])
    new = store.sibling(encoder_id="enc@2", dimension=DIM)
    new.prepare()
    assert new.collection != store.collection and new.collection_exists(new.collection)
    assert store.active_collection() == store.collection and new.size() == 0
    new.upsert([r for batch in store.scan() for r in batch])  # a re-index copies every point
    assert new.size() == 1 and store.make_active() == store.collection
    assert new.make_active() == store.collection and store.active_collection() == new.collection
    store.drop()
    assert not new.collection_exists(store.collection) and new.count(kb_id="kb") == 1
    new.ensure_ready()  # the alias now names the new encoder's collection


def test_embedded_store_is_single_process(tmp_path: Path) -> None:
    first = make_client(url=None, path=tmp_path / "q")
    with pytest.raises(Unavailable, match="KBCHAT_QDRANT__URL"):
        make_client(url=None, path=tmp_path / "q")
    first.close()


def test_server_url_errors_are_normalised(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = QdrantVectorStore(
        make_client(url=f"http://127.0.0.1:{port}", path=tmp_path, timeout_s=2),
        prefix="t",
        encoder_id="enc@1",
        dimension=DIM,
    )
    with pytest.raises(Unavailable, match="unreachable"):
        store.ping()
    with pytest.raises(Unavailable):
        store.ensure_ready()


@pytest.mark.parametrize("version", ["en1", "ml2"])
def test_lexical_terms_keep_identifiers(version: KeywordsVersion) -> None:
    terms = LexicalEncoder(version).document_terms
    assert {"e4471", "v3.11", "v3", "11", "x-api-key", "api", "key"} <= set(
        terms("Error E4471 in v3.11: x-api-key", "en")
    )
    assert "the" not in terms("the router", "en")
    doc = lexical.encode_document("reset reset reset router")
    assert len(doc.indices) == 2 and sorted(doc.indices) == doc.indices
    assert lexical.encode_query("").indices == []


def test_scan_can_skip_the_vectors(store: VectorStore) -> None:
    store.upsert([_record("kb", "d", i, f"chunk {i}") for i in range(3)] + [_record("other", "x", 0, "y")])
    full = [r for batch in store.scan(kb_id="kb") for r in batch]
    light = [r for batch in store.scan(kb_id="kb", vectors=False) for r in batch]
    assert sorted(r.payload["text"] for r in light) == ["chunk 0", "chunk 1", "chunk 2"]
    assert all(r.dense.size == DIM and r.sparse.indices for r in full)
    assert all(r.dense.size == 0 and not r.sparse.indices for r in light)


def test_chunks_without_current_sentence_vectors_are_counted_by_their_stamp(store: VectorStore) -> None:
    """What ``kbchat doctor`` reads to find chunks to give sentence vectors, in both engines."""
    stamp = {"model": "enc", "v": SPLIT_VERSION, "n": 1, "int8": "AA==", "scale": "AAAAAA=="}

    def stamped(record: ChunkRecord, value: dict | None) -> ChunkRecord:
        return replace(record, payload={**record.payload, **({SENTENCES: value} if value else {})})

    stamps = [stamp, None, {**stamp, "model": "older"}, {**stamp, "v": 0}]
    store.upsert(
        [stamped(_record("kb", "d", i, f"chunk {i}"), value) for i, value in enumerate(stamps)]
        + [stamped(_record("kb", "e", 0, "all stamped"), stamp), _record("other", "x", 0, "y")]
    )
    assert store.unsentenced(partial(current, model_id="enc")) == {("kb", "d"): 3, ("other", "x"): 1}
    assert store.unsentenced(partial(current, model_id="older")) == {
        ("kb", "d"): 3,
        ("kb", "e"): 1,
        ("other", "x"): 1,
    }


def test_languages_are_counted_per_knowledge_base(store: VectorStore) -> None:
    """The facet the question analysis reads, the same in Qdrant Edge and qdrant-client's local mode."""
    texts = {"de": "Die Rückerstattung dauert fünf Tage.", "en": "Refunds take five days.", "fr": "Le colis."}
    records = [_record("kb", f"d{i}", 0, text) for i, text in enumerate(texts.values())]
    records += [_record("kb", "d9", 1, "Refunds again."), _record("other", "x", 0, "Ein Paket.")]
    languages = ["de", "en", "fr", "en", "de"]
    tagged = zip(records, languages, strict=True)
    store.upsert([replace(r, payload={**r.payload, "lang": lang}) for r, lang in tagged])
    store.upsert([_record("kb", "legacy", 0, "A point from before languages were stored.")])
    assert store.languages(kb_id="kb") == {"en": 2, "de": 1, "fr": 1}
    assert next(iter(store.languages(kb_id="kb"))) == "en"  # most common first
    assert store.languages(kb_id="other") == {"de": 1}
    assert store.languages(kb_id="nobody") == {}


def test_a_server_collection_is_laid_out_as_configured() -> None:
    """What create_collection and dense queries send to a Qdrant server (docs/scaling.md)."""
    assert collection_options(ClusterSettings()) == {} and dense_search_params(ClusterSettings()) is None
    options = collection_options(CLUSTER)
    assert {k: options[k] for k in ("shard_number", "replication_factor", "write_consistency_factor")} == {
        "shard_number": 6,
        "replication_factor": 2,
        "write_consistency_factor": 2,
    }
    assert options["on_disk_payload"] is True
    scalar = options["quantization_config"].scalar
    assert scalar.type == "int8" and scalar.always_ram and scalar.quantile == 0.99
    params = dense_search_params(CLUSTER)
    assert params is not None and params.quantization is not None
    assert params.quantization.rescore and params.quantization.oversampling == 2.0
    with pytest.raises(ValueError):
        ClusterSettings(shard_number=0)


# -- keyword IDF per knowledge base (backend/vectorstore/keyword_idf.py) ---------------------------------
_FAQ = [
    "Refunds reach the original card within five business days",
    "Parcels are scanned at our warehouse in Leeds",
    "Sale items can be exchanged but not refunded",
    "Customers may return unworn shoes within 45 days for a refund",
    "Our warehouse ships parcels every weekday",
]
_OTHER = [f"warehouse inventory warehouse stock report number {i}" for i in range(30)]


def _sparse_scores(store: VectorStore, kb: str, query: str) -> dict[str, float]:
    hits = store.search(
        kb_id=kb, dense=_vec(0), sparse=lexical.encode_query(query), mode=SearchMode.SPARSE, limit=10
    )
    return {h.id: h.score for h in hits}


@pytest.mark.parametrize("kind", ["edge", "local", "local-cluster"])
def test_a_knowledge_base_alone_ranks_as_qdrant_idf_ranked_it(kind: str, tmp_path: Path) -> None:
    """The store's own IDF is Qdrant's formula: alone in its collection, a knowledge base's keyword
    scores are those of a collection with Qdrant's IDF modifier (how collections before ml3 were made)."""
    records = [_record("kb", f"d{i}", 0, text) for i, text in enumerate(_FAQ)]
    ours = open_store(kind, tmp_path / "ours")
    theirs = open_store(kind, tmp_path / "theirs").sibling(encoder_id="enc@1", dimension=DIM, kb_idf=False)
    for store in (ours, theirs):
        store.prepare()
        store.upsert(records)
    assert (ours.kb_idf, theirs.kb_idf) == (True, False)  # type: ignore[attr-defined]
    for query in ("warehouse parcels", "refund within days", "Leeds", "nothing matches"):
        mine, qdrant = _sparse_scores(ours, "kb", query), _sparse_scores(theirs, "kb", query)
        assert mine.keys() == qdrant.keys(), query
        assert mine == pytest.approx(qdrant, rel=1e-4), query
    assert ours.keyword_points("kb") == theirs.keyword_points("kb") == len(_FAQ)
    # A store that would make collections per knowledge base reads how an existing one was made, and
    # after dropping it, makes the next one its own way.
    reopened = theirs.sibling(encoder_id="enc@1", dimension=DIM)
    assert not reopened.kb_idf  # type: ignore[attr-defined]
    reopened.drop()
    reopened.prepare()
    assert reopened.kb_idf  # type: ignore[attr-defined]
    for store in (ours, theirs, reopened):
        store.close()


def test_another_tenants_documents_never_move_a_knowledge_bases_keyword_scores(store: VectorStore) -> None:
    store.upsert([_record("kb", f"d{i}", 0, text) for i, text in enumerate(_FAQ)])
    queries = ("warehouse parcels", "refund within days", "Leeds warehouse")
    alone = {q: _sparse_scores(store, "kb", q) for q in queries}
    # Another tenant writes "warehouse" thirty times: under a collection-wide IDF the word became
    # cheap in this knowledge base's search too.
    store.upsert([_record("other", f"o{i}", 0, text) for i, text in enumerate(_OTHER)])
    assert store.keyword_points("kb") == len(_FAQ) and store.keyword_points("other") == len(_OTHER)
    for q in queries:
        assert _sparse_scores(store, "kb", q) == pytest.approx(alone[q], rel=1e-6), q
    # What this process writes or deletes counts at once (no minute-old counts).
    store.upsert([_record("kb", "d9", 0, "the warehouse in Leeds opens at nine")])
    after = _sparse_scores(store, "kb", "Leeds")
    assert len(after) == 2 and max(after.values()) < max(alone["Leeds warehouse"].values())
    store.delete_document(kb_id="kb", document_id="d9")
    assert _sparse_scores(store, "kb", "Leeds warehouse") == pytest.approx(alone["Leeds warehouse"], rel=1e-6)


def test_term_ids_kept_for_counting_never_come_back_in_reads(store: VectorStore) -> None:
    store.upsert([_record("kb", "d", i, f"router reset step {i}") for i in range(3)])
    hits = store.search(
        kb_id="kb", dense=_vec(1), sparse=lexical.encode_query("router"), mode=SearchMode.HYBRID, limit=3
    )
    payloads = [h.payload for h in hits]
    payloads += store.neighbours(kb_id="kb", document_id="d", first=0, last=2)
    payloads += [r.payload for batch in store.scan(kb_id="kb") for r in batch]
    assert len(payloads) == 9 and all("text" in p and "terms" not in p for p in payloads)
