"""Ingestion throughput through the real pipeline vs raw ``SentenceTransformer.encode``.

The pipeline path is the service's: each document is accepted into the database with its job,
claimed by the worker, parsed, chunked, embedded (dense + BM25), upserted into the embedded
vector store (Qdrant Edge) and marked ready. The baseline encodes exactly the same chunk texts with one raw ``encode`` call
(batch 32, the library's own length sorting), measured in the same run. Ratio = pipeline / raw.

    .venv/bin/python bench/ingest_throughput.py --dataset manpages --limit 400
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.common import document_text, load_corpus, scratch_settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="manpages")
    parser.add_argument("--limit", type=int, default=400, help="documents (0 = all)")
    parser.add_argument("--repeats", type=int, default=3, help="raw-encode repeats (median reported)")
    args = parser.parse_args()

    from backend.catalog import documents as docs
    from backend.catalog import knowledge_bases as kbs
    from backend.services import Services

    rows = load_corpus(args.dataset, args.limit or None)
    services = Services.build(scratch_settings())
    model = services.embedder.sentence_transformer
    with services.sessions.begin() as session:
        kb_id = kbs.create(session, name="bench").id
    worker = services.make_worker()

    started = time.perf_counter()
    with services.sessions.begin() as session:
        for row in rows:
            title, body = document_text(row)
            docs.accept_upload(
                session,
                kb_id=kb_id,
                data=body.encode(),
                format="text",
                name=row["_id"],
                title=title,
                max_bytes=10**8,
            )
    while worker.run_once():
        pass
    pipeline_s = time.perf_counter() - started

    # The exact texts the pipeline embedded, read back from the vector store.
    from backend.vectorstore.base import embedding_text

    chunks = [r.payload for batch in services.vectors.scan() for r in batch]
    texts = [embedding_text(c) for c in chunks]
    raw = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        raw.append(time.perf_counter() - t)
    raw_s = statistics.median(raw)
    services.close()

    print(
        f"dataset {args.dataset}: {len(rows)} documents → {len(chunks)} chunks, device {services.embedder.device}"
    )
    print(
        f"  kbchat pipeline (DB job → parse → chunk → embed → Qdrant): {pipeline_s:7.2f} s   "
        f"{len(rows) / pipeline_s:7.1f} docs/s   {len(chunks) / pipeline_s:7.1f} chunks/s"
    )
    print(
        f"  raw SentenceTransformer.encode, same texts (median of {args.repeats}): {raw_s:7.2f} s   "
        f"{len(chunks) / raw_s:7.1f} chunks/s"
    )
    print(
        f"  ratio pipeline / raw encode: {pipeline_s / raw_s:.2f}x  (overhead {100 * (pipeline_s / raw_s - 1):.0f} %)"
    )


if __name__ == "__main__":
    main()
