"""Search latency through kbchat vs raw encode + Qdrant query, and retrieval quality per mode.

For each test query of a BEIR dataset (ingested through the real pipeline into Qdrant local mode):
- baseline: raw ``SentenceTransformer.encode(query)`` + ``client.query_points`` with the ``kb_id`` filter;
- kbchat ``Retriever.search`` in dense, sparse and hybrid mode;
- the HTTP endpoint ``POST /v1/knowledge-bases/{id}/search`` (dense) through the ASGI app.
Prints p50/p95 and the ratio of medians to the baseline; also nDCG@10 and Recall@10 per mode,
with corpus ids matched back from the chunk payloads (a document counts once, at its best rank).

    .venv/bin/python bench/search_latency.py --dataset python-faq
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from bench.common import document_text, load_corpus, load_queries, scratch_settings, summary


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sum(r / math.log2(i + 2) for i, r in enumerate(sorted(relevant.values(), reverse=True)[:10]))
    return dcg / ideal if ideal else 0.0


def dedupe(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="python-faq")
    parser.add_argument("--limit-queries", type=int, default=0)
    args = parser.parse_args()

    from fastapi.testclient import TestClient
    from qdrant_client import models as qm

    from backend.api.app import create_app
    from backend.catalog import documents as docs
    from backend.catalog import knowledge_bases as kbs
    from backend.services import Services
    from backend.vectorstore.base import SearchMode

    settings = scratch_settings()
    services = Services.build(settings)
    with services.sessions.begin() as session:
        kb_id = kbs.create(session, name="bench").id
        corpus_of: dict[str, str] = {}
        for row in load_corpus(args.dataset):
            title, body = document_text(row)
            accepted = docs.accept_upload(
                session,
                kb_id=kb_id,
                data=body.encode(),
                format="text",
                name=row["_id"],
                title=title,
                max_bytes=10**8,
            )
            corpus_of[accepted.document.id] = row["_id"]
    worker = services.make_worker()
    t = time.perf_counter()
    while worker.run_once():
        pass
    print(f"ingested {len(corpus_of)} documents in {time.perf_counter() - t:.1f} s")

    queries, qrels = load_queries(args.dataset, "test")
    items = list(queries.items())[: args.limit_queries or None]
    model, client, vectors = services.embedder.sentence_transformer, services.vectors.client, services.vectors
    flt = qm.Filter(must=[qm.FieldCondition(key="kb_id", match=qm.MatchValue(value=kb_id))])
    for _, text in items[:5]:  # warm-up
        services.retriever.search(kb_id=kb_id, query=text, top_k=10)

    timings: dict[str, list[float]] = {"raw encode + query_points": []}
    quality: dict[str, list[tuple[float, float]]] = {}
    for _, text in items:
        t = time.perf_counter()
        vec = model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
        client.query_points(vectors.alias, query=vec.tolist(), using="dense", query_filter=flt, limit=10)
        timings["raw encode + query_points"].append((time.perf_counter() - t) * 1000)
    for mode in SearchMode:
        label = f"kbchat Retriever.search {mode.value}"
        timings[label], quality[mode.value] = [], []
        for qid, text in items:
            t = time.perf_counter()
            result = services.retriever.search(kb_id=kb_id, query=text, top_k=10, mode=mode)
            timings[label].append((time.perf_counter() - t) * 1000)
            ranked = dedupe([corpus_of[p.document_id] for p in result.passages])
            relevant = qrels[qid]
            recall = len(set(ranked[:10]) & set(relevant)) / len(relevant)
            quality[mode.value].append((ndcg_at_10(ranked, relevant), recall))
    services.close()

    with TestClient(create_app(settings, embedder=services.embedder)) as http:
        http.headers["Authorization"] = "Bearer bench-token-0123456789"
        label = "HTTP POST /search dense"
        timings[label] = []
        for _, text in items:
            t = time.perf_counter()
            http.post(
                f"/v1/knowledge-bases/{kb_id}/search", json={"query": text, "top_k": 10}
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
