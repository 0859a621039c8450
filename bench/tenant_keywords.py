"""Does another tenant's content move a knowledge base's keyword ranking? (IDF counted per collection)

    .venv/bin/python -m bench.tenant_keywords [--own python-faq] [--other manpages]

Every knowledge base on one encoder shares one Qdrant collection, and the sparse vectors' IDF comes
from Qdrant's ``Modifier.IDF``, counted over the whole collection. So a term's weight in one tenant's
searches depends on how often *other* tenants' documents use it. This ingests ``--own`` into one
knowledge base, ranks its test questions (sparse and hybrid, the defaults otherwise), ingests
``--other`` into a second knowledge base of the same service, and ranks the first one's questions
again: any change is another tenant's doing. Sentence vectors are off (they play no part in this).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench.common import DATA, scratch_settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--own", default="python-faq")
    parser.add_argument("--other", default="manpages")
    args = parser.parse_args()

    from backend.retrieval.beir import load_beir
    from backend.retrieval.config import RetrievalSettings
    from backend.retrieval.metrics import ndcg_at_k
    from backend.services import Services
    from backend.vectorstore.base import SearchMode
    from ingest.evaluation.ranking import search_documents
    from ingest.evaluation.runner import ingest_corpus

    own = load_beir(Path(DATA / args.own), "test")
    other = load_beir(Path(DATA / args.other), "test")
    services = Services.build(scratch_settings(chunking={"sentence_vectors": False}))
    kb_id, aliases = ingest_corpus(services, own)
    defaults = RetrievalSettings()

    def rankings(mode: SearchMode) -> tuple[float, list[list[str]]]:
        scores, firsts = [], []
        for qid, text in own.queries.items():
            judged = own.qrels[qid]
            ranked = search_documents(
                services.retriever, kb_id, text, defaults.with_(mode=mode), aliases, judged
            )
            scores.append(ndcg_at_k(ranked, judged, 10))
            firsts.append(ranked[:5])
        return statistics.fmean(scores), firsts

    modes = (SearchMode.SPARSE, SearchMode.HYBRID)
    alone = {mode: rankings(mode) for mode in modes}
    ingest_corpus(services, other)
    beside = {mode: rankings(mode) for mode in modes}
    print(
        f"{args.own} test ({len(own.queries)} questions) alone in its collection, then beside a second "
        f"knowledge base holding {args.other} ({len(other.corpus)} documents)"
    )
    for mode in modes:
        (before, first_before), (after, first_after) = alone[mode], beside[mode]
        changed = sum(1 for a, b in zip(first_before, first_after, strict=True) if a != b)
        print(
            f"  {mode.value:<6}: nDCG@10 {before:.4f} -> {after:.4f} ({after - before:+.4f}); "
            f"top 5 changed for {changed} of {len(first_before)} questions"
        )
    services.close()


if __name__ == "__main__":  # the ingestion's parser processes import this module: run only here
    main()
