"""What the upgrade to per-knowledge-base keyword IDF (analysis ``ml3``) costs an existing deployment.

    .venv/bin/python -m bench.keyword_upgrade [--dataset manpages] [--limit 400]

A release that changes the keyword analysis re-indexes every knowledge base once, in the background,
with no downtime: the workers read its points, rebuild their sparse vectors from the stored text in the
chunk's language (no encoder call) and write them to the new analysis's collection, then switch it
(finetune/rollout.py). This ingests ``--limit`` documents of ``--dataset`` with the previous analysis
(``ml2``, sentence vectors on, as ingested now), runs the re-index the service queues at start, and
prints its rate beside the raw copy of the same points (``VectorStore.scan`` + ``upsert`` into a fresh
``ml3`` collection, no re-analysis) measured in the same run: the re-analysis's share of the upgrade.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from bench.common import DATA, scratch_settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="manpages")
    parser.add_argument("--limit", type=int, default=400, help="documents ingested (0: all)")
    args = parser.parse_args()

    from backend.catalog import encoders
    from backend.jobs.kinds import ACTIVATE_JOB
    from backend.retrieval.beir import load_beir
    from backend.services import Services
    from ingest.evaluation.runner import ingest_corpus

    dataset = load_beir(Path(DATA / args.dataset), "test")
    if args.limit:
        dataset = replace(dataset, corpus=dataset.corpus[: args.limit])
    services = Services.build(scratch_settings())
    kb_id, _ = ingest_corpus(services, dataset, keywords="ml2")
    old = services.encoders.snapshot(kb_id)
    chunks = old.vectors.count(kb_id=kb_id)

    copy = old.vectors.sibling(encoder_id="bench-copy", dimension=old.embedder.dimension)
    copy.prepare()
    started = time.perf_counter()
    for batch in old.vectors.scan(kb_id=kb_id):
        copy.upsert(batch)
    copy_s = time.perf_counter() - started
    copy.drop()
    copy.close()

    with services.sessions.begin() as session:
        jobs = encoders.request_keyword_upgrades(session)
    assert len(jobs) == 1, jobs
    worker = services.make_worker(kinds=[ACTIVATE_JOB])
    started = time.perf_counter()
    while worker.run_once():
        pass
    upgrade_s = time.perf_counter() - started
    moved = services.encoders.snapshot(kb_id)
    assert moved.keywords.version == "ml3" and moved.vectors.count(kb_id=kb_id) == chunks
    print(f"{args.dataset}: {len(dataset.corpus)} documents, {chunks} chunks (sentence vectors stored)")
    print(f"  raw copy of the points (scan + upsert): {chunks / copy_s:8.0f} chunks/s  ({copy_s:.2f} s)")
    print(
        f"  keyword re-index ml2 -> ml3 (the job): {chunks / upgrade_s:8.0f} chunks/s  ({upgrade_s:.2f} s), "
        f"{upgrade_s / copy_s:.1f}x the raw copy"
    )
    services.close()


if __name__ == "__main__":  # the ingestion's parser processes import this module: run only here
    main()
