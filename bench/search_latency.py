"""Search latency through kbchat vs raw encode + Qdrant query, and retrieval quality per mode.

For each test query of a BEIR dataset (ingested through the real pipeline into the embedded store,
Qdrant Edge by default, ``--backend local`` for qdrant-client's local mode):
- baseline: raw ``SentenceTransformer.encode(query)`` + the engine's own dense query with the ``kb_id``
  filter (``EdgeShard.query`` or ``client.query_points``);
- kbchat ``Retriever.search`` in dense, sparse and hybrid mode (each passage's confidence scored, as
  chat and the search API do), and hybrid without confidence scoring and with a cold sentence cache,
  to show what the confidence costs;
- the HTTP endpoint ``POST /v1/knowledge-bases/{id}/search`` (dense) through the ASGI app.
Prints p50/p95 and the ratio of medians to the baseline; also nDCG@10 and Recall@10 per mode,
with corpus ids matched back from the chunk payloads (a document counts once, at its best rank).

    .venv/bin/python -m bench.search_latency --dataset python-faq [--backend local]
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import DATA, scratch_settings, summary


def _raw_dense_query(vectors: object, kb_id: str):
    """The engine's own dense top-10 call, without kbchat around it (Edge or qdrant-client)."""
    from backend.vectorstore.edge import EdgeVectorStore

    if isinstance(vectors, EdgeVectorStore):
        import qdrant_edge as qe

        flt = qe.Filter(must=[qe.FieldCondition("kb_id", match=qe.MatchValue(kb_id))])
        shard = vectors._shard
        return lambda vec: shard.query(
            qe.QueryRequest(limit=10, query=qe.Query.Nearest(vec.tolist(), using="dense"), filter=flt)
        )
    from qdrant_client import models as qm

    flt = qm.Filter(must=[qm.FieldCondition(key="kb_id", match=qm.MatchValue(value=kb_id))])
    client, collection = vectors.client, vectors.collection  # type: ignore[attr-defined]
    return lambda vec: client.query_points(
        collection, query=vec.tolist(), using="dense", query_filter=flt, limit=10
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="python-faq")
    parser.add_argument("--limit-queries", type=int, default=0)
    parser.add_argument("--backend", choices=["edge", "local"], default="edge", help="embedded vector store")
    parser.add_argument(
        "--no-sentence-vectors",
        action="store_true",
        help="ingest without stored sentence vectors (searches encode the sentences they meet, then cache them)",
    )
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from backend.api.app import create_app
    from backend.retrieval.beir import load_beir
    from backend.retrieval.config import RetrievalSettings
    from backend.retrieval.metrics import ndcg_at_k, recall_at_k
    from backend.retrieval.sentences import SentenceVectors
    from backend.services import Services
    from backend.vectorstore.base import SearchMode
    from ingest.evaluation.ranking import documents_in_order
    from ingest.evaluation.runner import ingest_corpus

    dataset = load_beir(DATA / args.dataset, "test")
    settings = scratch_settings(
        qdrant={"embedded": args.backend}, chunking={"sentence_vectors": not args.no_sentence_vectors}
    )
    services = Services.build(settings)
    t = time.perf_counter()
    kb_id, aliases = ingest_corpus(services, dataset)  # the same path kbchat eval takes
    print(f"ingested {len(aliases)} documents in {time.perf_counter() - t:.1f} s")

    items = list(dataset.queries.items())[: args.limit_queries or None]
    model, vectors = services.encoders.base.embedder.sentence_transformer, services.encoders.base.vectors
    raw_query = _raw_dense_query(vectors, kb_id)
    for _, text in items[:5]:  # warm-up
        services.retriever.search(kb_id=kb_id, query=text, top_k=10)

    timings: dict[str, list[float]] = {"raw encode + query_points": []}
    quality: dict[str, list[tuple[float, float]]] = {}
    for _, text in items:
        t = time.perf_counter()
        vec = model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
        raw_query(vec)
        timings["raw encode + query_points"].append((time.perf_counter() - t) * 1000)
    for mode in SearchMode:
        label = f"kbchat Retriever.search {mode.value}"
        timings[label], quality[mode.value] = [], []
        for qid, text in items:
            t = time.perf_counter()
            config = RetrievalSettings(mode=mode)
            result = services.retriever.search(kb_id=kb_id, query=text, top_k=10, config=config)
            timings[label].append((time.perf_counter() - t) * 1000)
            relevant = dataset.qrels[qid]
            ranked = documents_in_order(result.passages, aliases, relevant)
            quality[mode.value].append((ndcg_at_k(ranked, relevant, 10), recall_at_k(ranked, relevant, 10)))
    hybrid = RetrievalSettings()
    for label, cold, score in (
        ("kbchat hybrid, no confidence", False, False),
        ("kbchat hybrid, cold sentence cache", True, True),
    ):
        timings[label] = []
        for _, text in items:
            if cold:
                services.retriever.sentences = SentenceVectors()
            t = time.perf_counter()
            services.retriever.search(
                kb_id=kb_id, query=text, top_k=10, config=hybrid, score_confidence=score
            )
            timings[label].append((time.perf_counter() - t) * 1000)
    services.close()

    with TestClient(create_app(settings, embedder=services.encoders.base.embedder)) as http:
        http.headers["Authorization"] = "Bearer bench-token-0123456789"
        label = "HTTP POST /search dense"
        timings[label] = []
        for _, text in items:
            t = time.perf_counter()
            http.post(
                f"/v1/knowledge-bases/{kb_id}/search", json={"query": text, "top_k": 10, "mode": "dense"}
            ).raise_for_status()
            timings[label].append((time.perf_counter() - t) * 1000)

    base = statistics.median(timings["raw encode + query_points"])
    print(f"\n{args.dataset}: {len(items)} test queries, top 10")
    for label, values in timings.items():
        print(f"  {label:36s} {summary(values)}   ratio {statistics.median(values) / base:5.2f}x")
    print("\n  mode     nDCG@10  Recall@10")
    for mode, rows in quality.items():
        print(
            f"  {mode:8s} {statistics.fmean(r[0] for r in rows):7.3f}  {statistics.fmean(r[1] for r in rows):9.3f}"
        )


if __name__ == "__main__":
    main()
