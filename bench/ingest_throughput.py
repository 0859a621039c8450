"""Ingestion throughput through the real pipeline vs raw ``SentenceTransformer.encode``.

The pipeline path is the service's: each document is accepted into the database with its job,
claimed by the worker, parsed, chunked, embedded (dense + BM25), upserted into the embedded
vector store (Qdrant Edge) and marked ready. The baseline encodes exactly the same chunk texts with
one raw ``encode`` call (batch 32, the library's own length sorting), measured in the same run.

This machine is noisy, so each round ingests the corpus into a fresh knowledge base and then runs
the raw call right after it; the ratio reported is the median of the rounds' ratios (pairs
measured close together), next to the medians of each side.

    .venv/bin/python -m bench.ingest_throughput --dataset manpages --limit 0 --rounds 3
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
    parser.add_argument("--rounds", type=int, default=3, help="pipeline + raw pairs (medians reported)")
    parser.add_argument(
        "--no-sentence-vectors",
        action="store_true",
        help="KBCHAT_CHUNKING__SENTENCE_VECTORS=false: chunks only, as before sentence vectors were stored",
    )
    args = parser.parse_args()

    from backend.catalog import documents as docs
    from backend.catalog import knowledge_bases as kbs
    from backend.services import Services
    from backend.text.embedded import embedding_text
    from backend.text.sentences import split_sentences

    rows = load_corpus(args.dataset, args.limit or None)
    sentences_on = not args.no_sentence_vectors
    services = Services.build(scratch_settings(chunking={"sentence_vectors": sentences_on}))
    model = services.encoders.base.embedder.sentence_transformer
    worker = services.make_worker()
    pipeline, accepting, raw, raw_all, ratios, ratios_all = [], [], [], [], [], []
    for round_ in range(args.rounds):
        with services.sessions.begin() as session:
            kb_id = kbs.create(session, name=f"bench-{round_}").id
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
        accepting.append(time.perf_counter() - started)
        while worker.run_once():
            pass
        pipeline.append(time.perf_counter() - started)

        # The exact texts the pipeline embedded, read back from the vector store.
        chunks = [
            r.payload
            for batch in services.encoders.base.vectors.scan()
            for r in batch
            if r.payload["kb_id"] == kb_id
        ]
        texts = [embedding_text(c) for c in chunks]
        t = time.perf_counter()
        model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        raw.append(time.perf_counter() - t)
        ratios.append(pipeline[-1] / raw[-1])
        sentences = [s for c in chunks for s in split_sentences(c["text"])] if sentences_on else []
        t = time.perf_counter()
        if sentences:  # what the pipeline encodes besides the chunks
            model.encode(sentences, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        raw_all.append(raw[-1] + time.perf_counter() - t)
        ratios_all.append(pipeline[-1] / raw_all[-1])
        print(
            f"  round {round_ + 1}: pipeline {pipeline[-1]:6.2f} s, raw {raw[-1]:6.2f} s (with the "
            f"{len(sentences)} sentences {raw_all[-1]:6.2f} s), ratio {ratios[-1]:.2f}x ({ratios_all[-1]:.2f}x)"
        )
    services.close()

    pipeline_s, raw_s, ratio = statistics.median(pipeline), statistics.median(raw), statistics.median(ratios)
    print(
        f"dataset {args.dataset}: {len(rows)} documents → {len(chunks)} chunks, device {services.encoders.base.embedder.device}, "
        f"{args.rounds} rounds"
    )
    print(
        f"  kbchat pipeline (DB job → parse → chunk → embed → Qdrant): {pipeline_s:7.2f} s   "
        f"{len(rows) / pipeline_s:7.1f} docs/s   {len(chunks) / pipeline_s:7.1f} chunks/s"
    )
    print(f"    of which accepting the uploads into the database: {statistics.median(accepting):6.2f} s")
    print(
        f"  raw SentenceTransformer.encode, same texts: {raw_s:7.2f} s   {len(chunks) / raw_s:7.1f} chunks/s"
    )
    print(
        f"  ratio pipeline / raw encode (median of rounds): {ratio:.2f}x  (overhead {100 * (ratio - 1):.0f} %)"
    )
    if sentences_on:
        both = statistics.median(ratios_all)
        print(
            f"  raw encode of the chunks and their sentences: {statistics.median(raw_all):7.2f} s; pipeline / "
            f"that {both:.2f}x (sentence vectors on; --no-sentence-vectors for chunks only)"
        )


if __name__ == "__main__":
    main()
