"""How well chat decides *whether* to answer, and what the offline answer quotes.

For every question the search path returns its top passages (as chat sees them) with their evidence;
the figures are then computed offline for any gate:

- **false refusals**: answerable questions (one of their relevant documents is among the passages)
  that the gate refuses;
- **false answers**: unanswerable questions (taken from another dataset, which this knowledge base
  cannot answer) that the gate answers;
- **quote precision**: of the answered answerable questions, the share whose offline (extractive)
  answer quotes only sentences of relevant documents (and **quote hit**: at least one).

Two gates side by side: the calibrated confidence at its threshold, and the fixed dense-cosine cut
chat used before (0.3). ``curve`` gives both gates' whole trade-off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from backend.chat.citations import cited_indices
from backend.chat.service import source_of
from backend.llm.base import Prompt
from backend.llm.extractive import ExtractiveProvider
from backend.retrieval.confidence import LEGACY_COSINE_CUT, ConfidenceModel, rates
from backend.retrieval.config import RetrievalSettings
from backend.retrieval.passages import Passage, evidence_rows
from backend.retrieval.search import Retriever

COSINE_CUT = LEGACY_COSINE_CUT


def _retrieval_scored_only(*_args: object) -> list[float]:
    raise AssertionError("every source here carries the sentence scores retrieval computed")


QUOTER = ExtractiveProvider(_retrieval_scored_only)
"""The offline answerer as chat runs it, over the sentence scores retrieval already computed."""

Progress = Callable[[str, int, int], None]


@dataclass(slots=True)
class Asked:
    """One question's passages, as chat would receive them."""

    query: str
    passages: list[Passage]
    relevant: list[bool]
    """Per passage: its document is judged relevant to the question."""
    answerable: bool
    """False: the question comes from another dataset."""

    @property
    def found(self) -> bool:
        return any(self.relevant)

    def rows(self) -> np.ndarray:
        return evidence_rows(self.passages)

    def best(self, model: ConfidenceModel | None) -> float:
        """The best passage's confidence under ``model`` (None: the dense cosine)."""
        if not self.passages:
            return 0.0
        if model is None:
            return max(p.relevance for p in self.passages)
        return float(model.probabilities(self.rows()).max())


def judged_by(
    qrels: Mapping[str, Mapping[str, int]], aliases: Mapping[str, list[str]]
) -> Callable[[str, Passage], bool]:
    """A passage answers a question when its document (any corpus id it stands for: duplicates are
    stored once) is graded relevant to it."""

    def relevant(qid: str, passage: Passage) -> bool:
        grades = qrels.get(qid, {})
        return any(grades.get(i, 0) > 0 for i in aliases.get(passage.document_id, [passage.source]))

    return relevant


def ask(
    retriever: Retriever,
    kb_id: str,
    queries: Mapping[str, str],
    relevant_of: Callable[[str, Passage], bool],
    *,
    answerable: bool,
    config: RetrievalSettings,
    top_k: int,
    progress: Progress | None = None,
    label: str = "",
) -> list[Asked]:
    """Each question's top ``top_k`` passages (chat's ``KBCHAT_CHAT__TOP_K``), judged by ``relevant_of``."""
    out = []
    for i, (qid, text) in enumerate(queries.items(), start=1):
        passages = retriever.search(kb_id=kb_id, query=text, top_k=top_k, config=config).passages
        relevant = [answerable and relevant_of(qid, p) for p in passages]
        out.append(Asked(text, passages, relevant, answerable))
        if progress:
            progress(label, i, len(queries))
    return out


def quote_precision(
    asked: Sequence[Asked],
    keep: Callable[[Asked], Sequence[float | bool]],
    answerer: ExtractiveProvider,
) -> dict[str, float]:
    """Of the answered, answerable questions: the share whose extractive answer quotes only relevant
    passages (``quote_precision``), and the share that quotes at least one (``quote_hit``).

    ``keep`` gives, per passage, False when the gate drops it, else the weight the answerer weighs its
    sentences by (True: none, the cosine alone, as earlier releases did)."""
    good = hit = answered = 0
    for a in asked:
        if not a.answerable or not a.found:
            continue
        kept = [(p, r, k) for p, r, k in zip(a.passages, a.relevant, keep(a), strict=True) if k is not False]
        if not kept:
            continue
        sources = [
            source_of(i, p, None if k is True else float(k)) for i, (p, _, k) in enumerate(kept, start=1)
        ]
        cited = cited_indices(answerer.compose(Prompt("", sources)), available=len(kept))
        relevant = [kept[n - 1][1] for n in cited]
        answered += 1
        good += bool(relevant) and all(relevant)
        hit += any(relevant)
    return {
        "quote_precision": good / answered if answered else 0.0,
        "quote_hit": hit / answered if answered else 0.0,
    }


def _kept(model: ConfidenceModel | None, cut: float, asked: Asked) -> list[float | bool]:
    """Per passage, as chat keeps it: False under the gate's cut, else its answer weight."""
    if model is None:
        return [p.relevance >= cut for p in asked.passages]
    rows = asked.rows()
    return [
        float(w) if c >= cut else False
        for c, w in zip(model.probabilities(rows), model.answer_weights(rows), strict=True)
    ]


@dataclass(slots=True)
class GateReport:
    questions: int
    found: int
    """Answerable questions with a relevant passage among the top ones (the false-refusal base)."""
    unanswerable: int
    confidence: dict[str, float] = field(default_factory=dict)
    cosine: dict[str, float] = field(default_factory=dict)
    tuned: dict[str, float] = field(default_factory=dict)
    """The confidence gate as ``kbchat tune`` fits it from another split (empty: not asked for)."""
    curve: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    """Gate → (threshold, false refusal, false answer) over a grid of thresholds."""


def gate_report(
    asked: Sequence[Asked], model: ConfidenceModel, answerer: ExtractiveProvider | None = None
) -> GateReport:
    found = [a for a in asked if a.answerable and a.found]
    outside = [a for a in asked if not a.answerable]
    report = GateReport(sum(a.answerable for a in asked), len(found), len(outside))
    for name, scorer, cut in (
        ("confidence", model, model.threshold),
        ("cosine", None, COSINE_CUT),
    ):
        positives = [a.best(scorer) for a in found]
        negatives = [a.best(scorer) for a in outside]
        figures = {"threshold": cut, **rates(positives, negatives, cut)}
        if answerer is not None:
            figures |= quote_precision(asked, partial(_kept, scorer, cut), answerer)
        getattr(report, name).update(figures)
        grid = np.linspace(0.0, 1.0, 101) if scorer is not None else np.linspace(-0.1, 0.9, 101)
        report.curve[name] = []
        for t in grid:
            r = rates(positives, negatives, float(t))
            report.curve[name].append((round(float(t), 3), r["false_refusal"], r["false_answer"]))
    return report
