"""Score every fusion setting of the tuner's grid on a dataset's TRAIN split (defaults are chosen on
train and reported on test, never the other way round).

    .venv/bin/python -m bench.fusion_grid --dataset python-faq
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from bench.common import DATA, scratch_settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="python-faq")
    parser.add_argument("--split", default="train")
    args = parser.parse_args()

    from backend.retrieval.beir import load_beir
    from backend.retrieval.config import RetrievalSettings
    from backend.retrieval.tuning import JudgedQuery, tune
    from backend.services import Services
    from ingest.evaluation.runner import ingest_corpus

    dataset = load_beir(Path(DATA / args.dataset), args.split)
    services = Services.build(scratch_settings())
    kb_id, aliases = ingest_corpus(services, dataset)
    doc_of_corpus = {cid: doc for doc, cids in aliases.items() for cid in cids}
    judged = [
        JudgedQuery(
            text,
            frozenset(doc_of_corpus[c] for c, g in dataset.qrels[q].items() if g > 0 and c in doc_of_corpus),
        )
        for q, text in dataset.queries.items()
    ]
    report = tune(
        embedder=services.encoders.base.embedder,
        keyword_query=partial(services.retriever.keyword_query, services.encoders.base, kb_id),
        vectors=services.encoders.base.vectors,
        kb_id=kb_id,
        judged=judged,
        current=RetrievalSettings(),
    )
    services.close()
    print(
        f"{args.dataset} ({args.split}): {report.queries} judged queries; current defaults {report.current.ndcg:.3f}"
    )
    for candidate in report.candidates:
        print(f"  {candidate.ndcg:.3f}  {candidate.label}")


if __name__ == "__main__":
    main()
