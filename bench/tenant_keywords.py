"""Does another tenant's content move a knowledge base's keyword ranking?

    .venv/bin/python -m bench.tenant_keywords [--own python-faq] [--other manpages]

Every knowledge base on one encoder shares one Qdrant collection. Until keyword analysis ``ml2`` the
sparse vectors' IDF came from Qdrant's ``Modifier.IDF``, counted over the whole collection, so a term's
weight in one tenant's searches depended on how often *other* tenants' documents use it; since ``ml3``
the store counts it per knowledge base (backend/vectorstore/keyword_idf.py). For each analysis, in one
run: ingest ``--own`` into one knowledge base, rank its test questions (sparse and hybrid, the defaults
otherwise), ingest ``--other`` into a second knowledge base of the same service and analysis, and rank
the first one's questions again: any change is another tenant's doing. Also the search's median time
beside the other tenant (per-knowledge-base counts are cached; the first search of a term counts it).
Sentence vectors are off (they play no part in this).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import NamedTuple

from bench.common import DATA, scratch_settings


class Ranked(NamedTuple):
    ndcg: float
    firsts: list[list[str]]
    p50_ms: float


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
    defaults = RetrievalSettings()
    modes = (SearchMode.SPARSE, SearchMode.HYBRID)
    print(
        f"{args.own} test ({len(own.queries)} questions) alone in its collection, then beside a second "
        f"knowledge base holding {args.other} ({len(other.corpus)} documents)"
    )
    for keywords, label in (
        ("ml2", "IDF over the collection (ml2)"),
        ("ml3", "IDF per knowledge base (ml3)"),
    ):
        kb_id, aliases = ingest_corpus(services, own, keywords=keywords)

        def rankings(mode: SearchMode, kb_id: str = kb_id, aliases: dict = aliases) -> Ranked:
            scores, firsts, took = [], [], []
            for qid, text in own.queries.items():
                judged = own.qrels[qid]
                started = time.perf_counter()
                ranked = search_documents(
                    services.retriever, kb_id, text, defaults.with_(mode=mode), aliases, judged
                )
                took.append((time.perf_counter() - started) * 1000)
                scores.append(ndcg_at_k(ranked, judged, 10))
                firsts.append(ranked[:5])
            return Ranked(statistics.fmean(scores), firsts, statistics.median(took))

        alone = {mode: rankings(mode) for mode in modes}
        ingest_corpus(services, other, keywords=keywords)
        beside = {mode: rankings(mode) for mode in modes}
        print(f"{label}:")
        for mode in modes:
            before, after = alone[mode], beside[mode]
            changed = sum(1 for a, b in zip(before.firsts, after.firsts, strict=True) if a != b)
            print(
                f"  {mode.value:<6}: nDCG@10 {before.ndcg:.4f} -> {after.ndcg:.4f} "
                f"({after.ndcg - before.ndcg:+.4f}); top 5 changed for {changed} of {len(before.firsts)} "
                f"questions; search p50 {before.p50_ms:.1f} -> {after.p50_ms:.1f} ms"
            )
    services.close()


if __name__ == "__main__":  # the ingestion's parser processes import this module: run only here
    main()
