"""What the confidence's keyword coverage costs a search: the passages analysed again, or read from
the term ids of their stored sparse vectors (what searches do since 2026-12-07).

    .venv/bin/python -m bench.keyword_coverage [--dataset manpages] [--documents 300] [--questions 100]

For each test question, the dense search's first 10 passages (read with their sparse vectors, as a
search reads them now) and their coverage computed both ways, which must agree. Medians over the
questions. (Reading the sparse vectors with the dense ones costs nothing measurable: 20 hits from Edge
0.18-0.23 ms either way, in-process on 300 manpages.)
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from bench.common import DATA, scratch_settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="manpages")
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()

    from backend.retrieval.beir import load_beir
    from backend.retrieval.evidence import coverage
    from backend.services import Services
    from backend.text.embedded import embedding_text
    from backend.vectorstore.base import SearchMode
    from ingest.evaluation.runner import ingest_corpus

    dataset = load_beir(Path(DATA / args.dataset), "test")
    dataset = dataclasses.replace(dataset, corpus=dataset.corpus[: args.documents])
    services = Services.build(scratch_settings(chunking={"sentence_vectors": False}))
    kb_id, _ = ingest_corpus(services, dataset)
    snapshot = services.encoders.snapshot(kb_id)
    store, keywords = snapshot.vectors, snapshot.keywords
    questions = list(dataset.queries.values())[: args.questions]
    timings: dict[str, list[float]] = {"analysed": [], "from ids": []}
    for question, vector in zip(questions, snapshot.embedder.embed_queries(questions), strict=True):
        pool = store.search(
            kb_id=kb_id,
            dense=vector,
            sparse=keywords.encode_query(question),
            mode=SearchMode.DENSE,
            limit=20,
            hydrate=False,
        )
        hits = store.hydrate(pool, vector)[:10]
        words = keywords.query_words(question, ["en"])
        started = time.perf_counter()
        analysed = [
            coverage(words, set(keywords.document_terms(embedding_text(h.payload), h.payload.get("lang"))))
            for h in hits
        ]
        timings["analysed"].append(time.perf_counter() - started)
        started = time.perf_counter()
        ids = keywords.word_ids(words)
        stored = [coverage(ids, h.terms) for h in hits if h.terms is not None]
        timings["from ids"].append(time.perf_counter() - started)
        assert stored == analysed, (question, stored, analysed)
    print(
        f"{args.dataset}: {len(questions)} questions, {args.documents} documents; coverage of the first 10 passages:"
    )
    for way, values in timings.items():
        print(f"  {way:<9} p50 {statistics.median(values) * 1000:.3f} ms")
    services.close()


if __name__ == "__main__":  # the ingestion's parser processes import this module: run only here
    main()
