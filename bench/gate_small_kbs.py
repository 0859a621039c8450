"""The shipped gate in small knowledge bases: does it refuse what a knowledge base of a few documents
can answer?

    .venv/bin/python -m bench.gate_small_kbs [--compare OLD.json]

The shared sets hold 174 and 1,163 documents; a first-time user's knowledge base holds one to a few
dozen. Per set and size (1, 3, 10, 30 documents), knowledge bases of randomly drawn documents that
have questions (fixed seeds; 30 documents in all per size, e.g. ten of three), each asked its
documents' questions (train and test splits: answerable) and ten questions of the other set
(unanswerable). Counted with the shipped model and, beside it, ``--compare`` (another confidence
model file, e.g. an earlier release's: ``git show REV:backend/retrieval/confidence_default.json``),
on the same retrieved passages: false refusals among questions whose relevant passage was retrieved,
and false answers.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import replace
from pathlib import Path

from bench.common import DATA, scratch_settings

SIZES = (1, 3, 10, 30)
PAIRS = (("python-faq", "manpages"), ("manpages", "python-faq"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compare", type=Path, help="another confidence model (JSON) to count beside")
    args = parser.parse_args()

    from backend.retrieval.beir import load_beir
    from backend.retrieval.confidence import ConfidenceModel, shipped
    from backend.retrieval.config import RetrievalSettings
    from backend.services import Services
    from ingest.evaluation.gate import ask, judged_by
    from ingest.evaluation.runner import ingest_corpus

    models = {"shipped": shipped()}
    if args.compare:
        models[args.compare.name] = ConfidenceModel.model_validate(json.loads(args.compare.read_text()))
    services = Services.build(scratch_settings())
    config, top_k = RetrievalSettings(), services.settings.chat.top_k
    print(f"{'set':12s} {'size':>4s}  " + "  ".join(f"{name:>36s}" for name in models))
    for name, other in PAIRS:
        test, train = load_beir(DATA / name, "test"), load_beir(DATA / name, "train")
        full = replace(test, qrels={**train.qrels, **test.qrels}, queries={**train.queries, **test.queries})
        asked_about = {d for judged in full.qrels.values() for d in judged}
        pool = [row for row in full.corpus if row["_id"] in asked_about]
        strangers = sorted(load_beir(DATA / other, "test").queries.items())
        for size in SIZES:
            rng = random.Random(size)
            counts = {m: [0, 0, 0, 0] for m in models}  # refused, found, answered, unanswerable
            for _ in range(max(1, 30 // size)):
                corpus = rng.sample(pool, size)
                ids = {row["_id"] for row in corpus}
                qrels = {q: j for q, j in full.qrels.items() if ids & set(j)}
                dataset = replace(
                    full, corpus=corpus, qrels=qrels, queries={q: full.queries[q] for q in qrels}
                )
                kb_id, aliases = ingest_corpus(services, dataset)
                relevant = judged_by(dataset.qrels, aliases)
                common = {"config": config, "top_k": top_k}
                own = ask(services.retriever, kb_id, dataset.queries, relevant, answerable=True, **common)
                foreign = dict(rng.sample(strangers, 10))
                declined = ask(services.retriever, kb_id, foreign, relevant, answerable=False, **common)
                for label, model in models.items():
                    found = [a for a in own if a.found]
                    counts[label][0] += sum(a.best(model) < model.threshold for a in found)
                    counts[label][1] += len(found)
                    counts[label][2] += sum(a.best(model) >= model.threshold for a in declined)
                    counts[label][3] += len(declined)
            cells = [
                f"refused {c[0]:3d}/{c[1]:<3d} ({c[0] / max(c[1], 1):5.1%}) answered {c[2]:3d}/{c[3]:<3d}"
                for c in counts.values()
            ]
            print(f"{name:12s} {size:4d}  " + "  ".join(f"{cell:>36s}" for cell in cells), flush=True)
    services.close()


if __name__ == "__main__":
    main()
