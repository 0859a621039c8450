"""nDCG@10 of the real search path over a grid of mode × fusion weight × sentence re-rank weight, on a
dataset's TRAIN split (defaults are chosen on train and reported on test, never the other way round).

``bench/fusion_grid.py`` scores fusion settings offline from candidate lists, as ``kbchat tune`` does;
this one runs ``Retriever.search`` for every setting, so what runs after fusion (the best-sentence
re-rank, near-duplicate collapsing) is measured too. The corpus is ingested once; sentence vectors are
cached across settings, so a setting costs its searches only.

    .venv/bin/python -m bench.search_grid --dataset python-faq
    .venv/bin/python -m bench.search_grid --dataset manpages --alphas 0.6,0.7,0.8 --sentence-weights 0,0.5
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench.common import DATA, scratch_settings


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="python-faq")
    parser.add_argument("--split", default="train")
    parser.add_argument("--alphas", default="0.5,0.6,0.7,0.8,0.9", help="convex fusion's dense weights")
    parser.add_argument("--sentence-weights", default="0,0.25,0.5,1", help="best-sentence re-rank weights")
    args = parser.parse_args()

    from backend.retrieval.beir import load_beir
    from backend.retrieval.config import RetrievalSettings
    from backend.retrieval.metrics import ndcg_at_k
    from backend.services import Services
    from backend.vectorstore.base import SearchMode
    from ingest.evaluation.ranking import search_documents
    from ingest.evaluation.runner import ingest_corpus

    dataset = load_beir(Path(DATA / args.dataset), args.split)
    services = Services.build(scratch_settings())
    kb_id, aliases = ingest_corpus(services, dataset)
    defaults = RetrievalSettings()

    def ndcg(config: RetrievalSettings) -> float:
        scores = []
        for qid, text in dataset.queries.items():
            judged = dataset.qrels[qid]
            ranked = search_documents(services.retriever, kb_id, text, config, aliases, judged)
            scores.append(ndcg_at_k(ranked, judged, 10))
        return statistics.fmean(scores)

    alphas = _floats(args.alphas)
    print(
        f"{args.dataset} ({args.split}, {len(dataset.queries)} queries), nDCG@10; margin = hybrid − best single"
    )
    print(
        "sentence weight | dense | sparse | " + " | ".join(f"convex {a}" for a in alphas) + " | best margin"
    )
    for weight in _floats(args.sentence_weights):
        base = defaults.with_(sentence_weight=weight)
        dense = ndcg(base.with_(mode=SearchMode.DENSE))
        sparse = ndcg(base.with_(mode=SearchMode.SPARSE))
        hybrid = [ndcg(base.with_(mode=SearchMode.HYBRID, fusion="convex", alpha=a)) for a in alphas]
        margin = max(hybrid) - max(dense, sparse)
        cells = " | ".join(f"{h:.3f}" for h in hybrid)
        print(f"{weight:g} | {dense:.3f} | {sparse:.3f} | {cells} | {margin:+.3f}", flush=True)
    services.close()


if __name__ == "__main__":
    main()
