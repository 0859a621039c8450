"""Ingest a BEIR corpus through the real pipeline and run every query through the real search path.

Corpus ids are matched back from each passage's document (its ``source`` is the corpus id), so the
figures hold whatever the chunking. A document counts once, at the rank of its best passage. Corpus
rows with identical text are stored once (uploads are de-duplicated by content hash); such a document
stands for all of its corpus ids at its rank.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from backend.catalog import documents as docs
from backend.catalog import knowledge_bases as kbs
from backend.retrieval.beir import BeirDataset
from backend.retrieval.calibration import fit_questions
from backend.retrieval.confidence import serving
from backend.retrieval.config import RetrievalSettings
from backend.retrieval.metrics import all_metrics
from backend.services import Services
from backend.vectorstore.base import SearchMode
from ingest.evaluation import baselines
from ingest.evaluation.gate import QUOTER, Asked, GateReport, ask, gate_report, judged_by
from ingest.evaluation.ranking import search_documents

Progress = Callable[[str, int, int], None]


@dataclass
class Row:
    name: str
    metrics: dict[str, float]
    latency_p50_ms: float
    latency_p95_ms: float
    by_language: dict[str, dict[str, float]] = field(default_factory=dict)
    """Language → the same metrics over its queries only, when the queries carry a language."""


@dataclass
class Report:
    dataset: str
    split: str
    queries: int
    documents: int
    chunks: int
    rows: list[Row] = field(default_factory=list)
    gates: dict[str, GateReport] = field(default_factory=dict)
    """Per search mode: when chat answers and what it quotes (ingest/evaluation/gate.py)."""
    unanswerable: str | None = None
    """The dataset whose questions were asked as unanswerable ones."""


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else 0.0


def _means(per_query: list[dict[str, float]]) -> dict[str, float]:
    return {m: statistics.fmean(r[m] for r in per_query) for m in per_query[0]}


def _row(name: str, ranked: dict[str, list[str]], dataset: BeirDataset, latencies: list[float]) -> Row:
    per_query = {q: all_metrics(ranked.get(q, []), rel) for q, rel in dataset.qrels.items()}
    by_language: dict[str, list[dict[str, float]]] = {}
    for q, lang in dataset.languages.items():
        by_language.setdefault(lang, []).append(per_query[q])
    return Row(
        name,
        _means(list(per_query.values())),
        statistics.median(latencies) if latencies else 0.0,
        _p95(latencies),
        {lang: _means(rows) for lang, rows in by_language.items()},
    )


def ingest_corpus(
    services: Services, dataset: BeirDataset, progress: Progress | None = None, *, keywords: str | None = None
) -> tuple[str, dict[str, list[str]]]:
    """A scratch knowledge base holding the corpus; returns its id and document id → corpus ids.
    ``keywords``: index it with this keyword analysis instead of the current one (a benchmark's before)."""
    aliases: dict[str, list[str]] = {}
    with services.sessions.begin() as session:
        kb = kbs.create(session, name=f"eval-{dataset.name}-{uuid.uuid4().hex[:8]}")
        kb.keywords = keywords or kb.keywords
        kb_id = kb.id
        for row in dataset.corpus:
            accepted = docs.accept_upload(
                session,
                kb_id=kb_id,
                data=row["text"].encode("utf-8"),
                format="text",
                name=row["_id"],
                title=row.get("title") or None,  # an id is no title: the encoder would read it
                source=row["_id"],
                max_bytes=2**31,
            )
            aliases.setdefault(accepted.document.id, []).append(row["_id"])
    worker = services.make_worker(kinds=["ingest"])
    done = 0
    while worker.run_once():
        done += 1
        if progress:
            progress("ingesting", done, len(aliases))
    return kb_id, aliases


def evaluate(
    services: Services,
    dataset: BeirDataset,
    *,
    split: str,
    modes: Iterable[SearchMode],
    baseline: bool = True,
    unanswerable: BeirDataset | None = None,
    tuning: tuple[BeirDataset, BeirDataset | None] | None = None,
    progress: Progress | None = None,
) -> Report:
    """``unanswerable``: a dataset whose questions this corpus cannot answer (for false answers).
    ``tuning``: the same dataset on another split (and ``unanswerable`` on it), from whose questions
    the gate is also fitted as ``kbchat tune`` fits it, and reported beside the shipped one."""
    kb_id, aliases = ingest_corpus(services, dataset, progress)
    report = Report(
        dataset.name,
        split,
        len(dataset.queries),
        len(dataset.corpus),
        services.encoders.snapshot(kb_id).vectors.count(kb_id=kb_id),
    )
    defaults = RetrievalSettings()
    for mode in modes:
        config = defaults.with_(mode=mode)
        ranked, latencies = {}, []
        services.retriever.sentences.clear()  # each mode starts cold: no mode rides on another's cache
        for i, (qid, text) in enumerate(dataset.queries.items(), start=1):
            # Latency: a top-10 search, ranking only, like the baselines beside it (what scoring each
            # passage's confidence adds is bench/search_latency.py's); sentence vectors are cached, so a
            # query is as cold as the passages it meets are new. The ranking for Recall@100 is a deeper
            # one: documents have several passages, so it asks for enough passages to rank TOP documents.
            started = time.perf_counter()
            services.retriever.search(
                kb_id=kb_id, query=text, top_k=10, config=config, score_confidence=False
            )
            latencies.append((time.perf_counter() - started) * 1000)
            ranked[qid] = search_documents(
                services.retriever, kb_id, text, config, aliases, dataset.qrels[qid]
            )
            if progress:
                progress(f"kbchat {mode.value}", i, len(dataset.queries))
        report.rows.append(_row(f"kbchat {mode.value}", ranked, dataset, latencies))
        report.gates[mode.value] = _gate(
            services, kb_id, aliases, (dataset, unanswerable), tuning, config, progress
        )
    report.unanswerable = unanswerable.name if unanswerable else None
    if baseline:
        ranked, latencies = baselines.bm25(dataset)
        report.rows.append(_row("BM25 (bm25s, whole documents)", ranked, dataset, latencies))
        embedder = services.encoders.snapshot(kb_id).embedder
        model = getattr(embedder, "sentence_transformer", None)
        if model is not None:
            ranked, latencies = baselines.raw_encoder(dataset, model)
            report.rows.append(_row("raw sentence-transformers (exact)", ranked, dataset, latencies))
        else:
            ranked, latencies = baselines.raw_embedder(dataset, embedder)
            name = embedder.model_id.partition("@")[0]
            report.rows.append(_row(f"raw {name} (exact, whole documents)", ranked, dataset, latencies))
    kbs.delete(services.sessions, services.encoders.stores_of(kb_id), kb_id)
    return report


Questions = tuple[BeirDataset, BeirDataset | None]
"""A dataset's questions, and another's this corpus cannot answer (None: none asked)."""


def _gate(
    services: Services,
    kb_id: str,
    aliases: dict[str, list[str]],
    scored: Questions,
    tuning: Questions | None,
    config: RetrievalSettings,
    progress: Progress | None,
) -> GateReport:
    label = f"gate {config.mode.value}"

    def asked(questions: Questions, label: str) -> list[Asked]:
        dataset, unanswerable = questions
        relevant = judged_by(dataset.qrels, aliases)
        ask_all = partial(
            ask,
            services.retriever,
            kb_id,
            relevant_of=relevant,
            config=config,
            progress=progress,
            top_k=services.settings.chat.top_k,
        )
        out = ask_all(dataset.queries, answerable=True, label=label)
        if unanswerable is not None:
            out += ask_all(unanswerable.queries, answerable=False, label=f"{label} (unanswerable)")
        return out

    model = serving(config.calibration, services.encoders.snapshot(kb_id).model_id)
    questions = asked(scored, label)
    report = gate_report(questions, model, QUOTER)
    if tuning is not None:
        pairs = asked(tuning, f"{label} (tune split)")
        fitted = fit_questions(
            [(a.rows(), a.relevant) for a in pairs if a.passages and a.answerable],
            [a.rows() for a in pairs if a.passages and not a.answerable],
            model_id=None,
            base=model,
        ).model
        if fitted is not None:
            tuned = gate_report(questions, fitted, QUOTER)
            report.tuned = tuned.confidence
            report.curve["confidence, tuned"] = tuned.curve["confidence"]
    return report
