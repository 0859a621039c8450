"""Congruence (as qdrant-client's own tests/congruence_tests/ do): the same writes and queries on Qdrant
Edge and on qdrant-client's local mode. On small data both search exactly and must return the same
ids with the same scores; on larger data Edge's HNSW must find the exact top 10 with recall ≥ 0.95.

One documented difference: after deletions, Edge (like the Qdrant server) keeps counting deleted
points in the keyword IDF until the segment is vacuumed, while local mode recounts at once. So
after deletes, dense results must still agree exactly, and no backend may return a deleted point.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backend.keywords.encoder import LexicalEncoder
from backend.vectorstore import ChunkRecord, SearchMode, point_id
from backend.vectorstore.base import Fusion, SearchFilters, VectorStore
from backend.vectorstore.edge import EdgeVectorStore
from backend.vectorstore.qdrant import QdrantVectorStore
from backend.vectorstore.qdrant_connection import make_client

DIM = 16
WORDS = [
    "router",
    "reset",
    "password",
    "invoice",
    "refund",
    "shipping",
    "firmware",
    "light",
    "cable",
    "modem",
    "admin",
    "label",
    "account",
]
lexical = LexicalEncoder()


def _records(n: int, seed: int = 0) -> list[ChunkRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        vector = rng.normal(size=DIM).astype(np.float32)
        # A distinct length per text: BM25 never ties, so rank-based fusion has one right answer.
        text = " ".join(rng.choice(WORDS, size=3 + i))
        doc = f"doc{i // 4}"
        out.append(
            ChunkRecord(
                point_id(doc, i % 4, text),
                vector / np.linalg.norm(vector),
                lexical.encode_document(text),
                {
                    "kb_id": f"kb{i % 3}",
                    "document_id": doc,
                    "text": text,
                    "chunk_index": i % 4,
                    "content_type": "text/html" if i % 5 == 0 else "text/plain",
                    "tags": ["faq"] if i % 2 else [],
                    "created_at": float(i),
                },
            )
        )
    return out


def _pair(tmp_path: Path, **edge_options: object) -> tuple[VectorStore, VectorStore]:
    edge = EdgeVectorStore(tmp_path / "edge", prefix="c", encoder_id="enc@1", dimension=DIM, **edge_options)
    local = QdrantVectorStore(
        make_client(url=None, path=tmp_path / "local"), prefix="c", encoder_id="enc@1", dimension=DIM
    )
    for store in (edge, local):
        store.ensure_ready()
    return edge, local


def _ranked(store: VectorStore, **query: object) -> list[tuple[float, str]]:
    # Exact ties have no defined order in either engine: compare (score, id), sorted.
    return sorted((-round(h.score, 4), h.id) for h in store.search(**query))  # type: ignore[arg-type]


QUERIES = [
    {"mode": SearchMode.DENSE},
    {"mode": SearchMode.SPARSE},
    {"mode": SearchMode.HYBRID},
    {"mode": SearchMode.HYBRID, "fusion": Fusion(k=10, dense_weight=2.0, sparse_weight=0.5)},
    {"mode": SearchMode.DENSE, "filters": SearchFilters(tags=["faq"], created_after=20.0)},
    {"mode": SearchMode.HYBRID, "filters": SearchFilters(content_types=["text/html"])},
    {"mode": SearchMode.SPARSE, "filters": SearchFilters(document_ids=["doc3", "doc7", "doc11"])},
]


def _queries(seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    out = []
    for q in range(5):
        dense = rng.normal(size=DIM).astype(np.float32)
        sparse = lexical.encode_query(" ".join(rng.choice(WORDS, size=3)))
        for query in QUERIES:
            out.append(
                {
                    "kb_id": f"kb{q % 3}",
                    "dense": dense / np.linalg.norm(dense),
                    "sparse": sparse,
                    "limit": 10,
                    **query,
                }
            )
    return out


def test_same_writes_same_answers_on_small_data(tmp_path: Path) -> None:
    edge, local = _pair(tmp_path)
    records = _records(240)
    for store in (edge, local):
        store.upsert(records)
    for args in _queries(7):
        assert _ranked(edge, **args) == _ranked(local, **args), args

    deleted = {
        r.id
        for r in records
        if r.payload["document_id"] == "doc0" and r.payload["kb_id"] == "kb0" and r.id != records[0].id
    }
    deleted |= {r.id for r in records if r.payload["kb_id"] == "kb2"}
    for store in (edge, local):
        store.delete_document(kb_id="kb0", document_id="doc0", keep_ids=[records[0].id])
        store.delete_knowledge_base(kb_id="kb2")
    for args in _queries(8):
        for store in (edge, local):
            assert not deleted & {h.id for h in store.search(**args)}  # type: ignore[arg-type]
        if args["mode"] is SearchMode.DENSE:
            assert _ranked(edge, **args) == _ranked(local, **args), args
    for kb in ("kb0", "kb1", "kb2"):
        assert edge.count(kb_id=kb) == local.count(kb_id=kb)
    assert edge.inventory() == local.inventory()
    assert edge.neighbours(kb_id="kb1", document_id="doc10", first=0, last=3) == local.neighbours(
        kb_id="kb1", document_id="doc10", first=0, last=3
    )
    for store in (edge, local):
        store.close()


@pytest.mark.slow  # builds an HNSW index over enough points to need one
def test_indexed_search_finds_the_exact_top_ten(tmp_path: Path) -> None:
    edge, local = _pair(tmp_path, indexing_threshold_kb=100)
    records = _records(4000, seed=1)
    for store in (edge, local):
        store.upsert(records)
    assert isinstance(edge, EdgeVectorStore) and edge.optimize()  # HNSW built
    rng = np.random.default_rng(3)
    found = total = 0
    for q in range(30):
        dense = rng.normal(size=DIM).astype(np.float32)
        dense /= np.linalg.norm(dense)
        args = {"kb_id": f"kb{q % 3}", "dense": dense, "sparse": lexical.encode_query("x"), "limit": 10}
        exact = {h.id for h in local.search(mode=SearchMode.DENSE, **args)}
        found += len(exact & {h.id for h in edge.search(mode=SearchMode.DENSE, **args)})
        total += len(exact)
    assert found / total >= 0.95, found / total
    for store in (edge, local):
        store.close()


def test_edge_survives_a_restart_and_belongs_to_one_process(tmp_path: Path) -> None:
    edge, local = _pair(tmp_path)
    local.close()
    edge.upsert(_records(50))
    written = edge.inventory()
    code = (
        "import sys; from pathlib import Path; from backend.vectorstore.edge import EdgeVectorStore;"
        f"EdgeVectorStore(Path({str(tmp_path / 'edge')!r}), prefix='c', encoder_id='enc@1', dimension={DIM})"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert other.returncode != 0 and "in use by another kbchat process" in other.stderr
    edge.close()
    reopened = EdgeVectorStore(tmp_path / "edge", prefix="c", encoder_id="enc@1", dimension=DIM)
    reopened.ensure_ready()
    assert reopened.size() == 50 and reopened.inventory() == written  # every point, where it was
    reopened.close()
    freed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert freed.returncode == 0, freed.stderr  # the lock goes with the last store of the process
