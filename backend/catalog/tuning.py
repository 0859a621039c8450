"""Tune a knowledge base's retrieval settings and confidence model on its own question–passage pairs.

A pair names its answer by ``document_id`` (kbchat's), by ``source`` (as uploaded), or by the
``positive`` passage text itself; or says ``"answerable": false``: a question the assistant must
decline (off-topic, not covered), which teaches the confidence model what to refuse. Runs inline
from ``kbchat tune`` or as the "tune" job behind ``POST /v1/knowledge-bases/{id}/tune``; either way
the winning search settings are stored on the knowledge base only when they measurably beat the
current ones, and the confidence model (chat's "I don't know" gate) is refitted on the same pairs,
with the tuned settings, when they can support it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import knowledge_bases as kbs
from backend.db.models import Document, Job, JobStatus
from backend.errors import InvalidInput
from backend.jobs.kinds import TUNE_JOB
from backend.jobs.queue import enqueue
from backend.jobs.worker import JobContext, JobHandler
from backend.retrieval.calibration import Calibration, calibrate
from backend.retrieval.search import Retriever
from backend.retrieval.tuning import JudgedQuery, TuneReport, tune
from backend.serving.router import EncoderRouter

log = logging.getLogger(__name__)
MAX_PAIRS = 5000
NO_ANSWERABLE_PAIRS = (
    "every pair is marked unanswerable; tuning needs questions with their answer too "
    "(document_id, source or positive)"
)


@dataclass(frozen=True)
class TuningParts:
    """What tuning reads and writes, and nothing more: built by the service, the CLI or a test."""

    sessions: sessionmaker[Session]
    encoders: EncoderRouter
    retriever: Retriever
    top_k: int
    """Passages chat retrieves per question: the confidence model is fitted on that many."""


class Pair(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    query: str = Field(min_length=1, max_length=4000)
    document_id: str | None = None
    source: str | None = None
    positive: str | None = Field(default=None, max_length=20000)
    answerable: bool = True
    """False: a question this knowledge base must decline; it names no answer."""

    @model_validator(mode="after")
    def _has_answer(self) -> Pair:
        names_answer = bool(self.document_id or self.source or self.positive)
        if self.answerable and not names_answer:
            raise ValueError(
                "a pair needs document_id, source or positive to say what answers the query, or "
                '"answerable": false for a question the assistant must decline'
            )
        if not self.answerable and names_answer:
            raise ValueError('a pair with "answerable": false names no document_id, source or positive')
        return self


def parse_pairs_jsonl(lines: Iterable[str]) -> list[Pair]:
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            pairs.append(Pair.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise InvalidInput(f"pairs line {number}: {exc}") from None
    if not pairs:
        raise InvalidInput(
            "the pairs file is empty; one JSON object per line: {query, document_id|source|positive} or "
            '{query, "answerable": false}'
        )
    if len(pairs) > MAX_PAIRS:
        raise InvalidInput(f"{len(pairs)} pairs; at most {MAX_PAIRS} are used for tuning")
    if not any(p.answerable for p in pairs):
        raise InvalidInput(NO_ANSWERABLE_PAIRS)
    return pairs


def judged_queries(session: Session, kb_id: str, pairs: list[Pair]) -> list[JudgedQuery]:
    sources = {p.source for p in pairs if p.source}
    by_source: dict[str, set[str]] = {}
    if sources:
        rows = session.execute(
            select(Document.source, Document.id).where(Document.kb_id == kb_id, Document.source.in_(sources))
        )
        for source, doc_id in rows:
            by_source.setdefault(source, set()).add(doc_id)
    return [
        JudgedQuery(
            p.query,
            frozenset(({p.document_id} if p.document_id else set()) | by_source.get(p.source or "", set())),
            p.positive,
        )
        for p in pairs
        if p.answerable
    ]


def run_tuning(
    parts: TuningParts, kb_id: str, pairs: list[Pair], *, apply: bool = True
) -> tuple[TuneReport, Calibration]:
    with parts.sessions() as session:
        current = kbs.retrieval_settings(kbs.get(session, kb_id))
        judged = judged_queries(session, kb_id, pairs)
    if not judged:
        raise InvalidInput(NO_ANSWERABLE_PAIRS)
    snapshot = parts.encoders.snapshot(kb_id)  # tuned on the encoder that serves this knowledge base
    try:
        report = tune(
            embedder=snapshot.embedder,
            keyword_query=partial(parts.retriever.keyword_query, snapshot, kb_id),
            vectors=snapshot.vectors,
            kb_id=kb_id,
            judged=judged,
            current=current,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    settings = current.with_(**report.best.update)
    calibration = calibrate(
        parts.retriever,
        kb_id=kb_id,
        model_id=snapshot.model_id,
        judged=judged,
        unanswerable=[p.query for p in pairs if not p.answerable],
        config=settings,
        top_k=parts.top_k,
    )
    changes = dict(report.best.update)
    if calibration.model is not None:
        changes["calibration"] = calibration.model.model_dump(mode="json")
    if apply and changes:
        with parts.sessions.begin() as session:
            kbs.update(session, kb_id, retrieval=changes)
        log.info(
            "kb %s tuned: %s (nDCG@10 %.3f → %.3f on %d queries); confidence model %s",
            kb_id,
            report.best.label,
            report.current.ndcg,
            report.best.ndcg,
            report.queries,
            "refitted" if calibration.model else "kept: " + calibration.report.get("reason", ""),
        )
    return report, calibration


def report_dict(report: TuneReport, calibration: Calibration, applied: bool) -> dict[str, Any]:
    confidence = dict(calibration.report)
    confidence["applied"] = applied and confidence.get("applied", False)
    return {
        "queries": report.queries,
        "skipped": report.skipped,
        "current_ndcg@10": round(report.current.ndcg, 4),
        "best": {
            "label": report.best.label,
            "settings": report.best.update,
            "ndcg@10": round(report.best.ndcg, 4),
        },
        "applied": applied and bool(report.best.update),
        "top": [{"label": c.label, "ndcg@10": round(c.ndcg, 4)} for c in report.candidates[:10]],
        "confidence": confidence,
    }


def retune(session: Session, kb_id: str) -> Job | None:
    """Queue the knowledge base's last successful tune again, with the same pairs: for after its encoder
    changed, since both the fusion weights and the confidence model were fitted on the old encoder's
    scores (a confidence model names its encoder and stops applying). None: it was never tuned."""
    last = session.scalar(
        select(Job)
        .where(Job.kb_id == kb_id, Job.kind == TUNE_JOB, Job.status == JobStatus.SUCCEEDED)
        .order_by(Job.created_at.desc())
        .limit(1)
    )
    if last is None or not last.payload.get("pairs") or not last.payload.get("apply", True):
        return None
    return enqueue(session, kind=TUNE_JOB, kb_id=kb_id, max_attempts=1, payload=dict(last.payload))


def make_tune_handler(parts: TuningParts) -> JobHandler:
    def handle(ctx: JobContext) -> None:
        payload = ctx.job.payload
        pairs = [Pair.model_validate(p) for p in payload.get("pairs", [])]
        ctx.report("tuning", 0.1, force=True)
        report, calibration = run_tuning(parts, ctx.job.kb_id or "", pairs, apply=payload.get("apply", True))
        ctx.result = report_dict(report, calibration, payload.get("apply", True))

    return handle
