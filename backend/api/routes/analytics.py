"""/v1/knowledge-bases/{kb_id}/analytics/{report}: what visitors ask and what to write next.

Reports: ``summary``, ``top-questions`` (grouped by meaning with the encoder), ``content-gaps``
(questions answered with no relevant passage, with low confidence, or rated down, grouped, with
examples), ``sources`` (which documents get cited, which never), ``feedback`` and ``leads`` (per
day). Every report takes the window (``since``/``until`` or ``days``, 30 by default) and
``format=csv`` for a spreadsheet.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Query, Response

from backend.analytics import questions as qs
from backend.analytics import reports
from backend.api.analytics_schemas import AnalyticsReport
from backend.api.csv_export import csv_response
from backend.api.deps import ServicesDep
from backend.api.window import Window, WindowDep
from backend.catalog import knowledge_bases as kbs
from backend.errors import NotFound
from backend.services import Services

router = APIRouter(prefix="/knowledge-bases/{kb_id}/analytics", tags=["analytics"])
REPORTS = ("summary", "top-questions", "content-gaps", "sources", "feedback", "leads")


def _groups(
    services: Services, kb_id: str, window: Window, *, gaps: bool, options: dict[str, Any]
) -> list[dict[str, Any]]:
    snapshot = services.encoders.snapshot(kb_id)
    embedder = snapshot.embedder  # vectors of other encoders are never compared with its own
    # Answers stored before confidence was kept: the cosine cut measured for the encoder.
    relevance = next(c for c in (snapshot.confidence_threshold, qs.DEFAULT_CONFIDENCE) if c is not None)
    with services.sessions() as session:
        kb = kbs.get(session, kb_id)
        if options["confidence"] is None:
            options["confidence"] = qs.unsure_below(kbs.retrieval_settings(kb).calibration, embedder.model_id)
        asked = qs.load(session, kb_id, window.since, window.until, embedder.model_id)
    if gaps:
        asked = [q for q in asked if qs.gap_reasons(q, options["confidence"], relevance)]
    similarity = options["similarity"] or qs.same_question(embedder.model_id)
    groups = qs.grouped(services.sessions, embedder, asked, similarity)
    out = []
    for group, members in groups[: options["limit"]]:
        row: dict[str, Any] = {
            "label": group.label,
            "count": group.count,
            "share": round(group.count / len(asked), 4),
            "last_asked": group.last_asked.isoformat(),
            "examples": group.examples,
        }
        relevances = [q.relevance for q in members if q.relevance is not None]
        row["mean_relevance"] = round(sum(relevances) / len(relevances), 4) if relevances else None
        row["up"], row["down"] = sum(q.up for q in members), sum(q.down for q in members)
        if gaps:
            reasons: dict[str, int] = {}
            for q in members:
                for reason in qs.gap_reasons(q, options["confidence"], relevance):
                    reasons[reason] = reasons.get(reason, 0) + 1
            row["reasons"] = reasons
        out.append(row)
    return out


def _counts(services: Services, kb_id: str, window: Window, report: str) -> Any:
    with services.sessions() as session:
        kbs.get(session, kb_id)
        args = (session, kb_id, window.since, window.until)
        if report == "summary":
            return reports.summary(*args)
        if report == "feedback":
            return reports.feedback_by_day(*args)
        if report == "leads":
            return reports.leads_by_day(*args)
        return [
            {
                "document_id": u.document_id,
                "title": u.title,
                "source": u.source,
                "citations": u.citations,
                "last_cited": u.last_cited.isoformat() if u.last_cited else None,
                "exists": u.exists,
            }
            for u in reports.source_usage(*args)
        ]


def _as_csv(report: str, data: Any) -> Response:
    rows = [data] if isinstance(data, dict) else data
    header = list(rows[0]) if rows else ["(no data in this window)"]

    def flat(value: Any) -> Any:
        if isinstance(value, list):
            return " | ".join(map(str, value))
        return json.dumps(value) if isinstance(value, dict) else value

    cells = ([flat(v) for v in row.values()] for row in rows)
    return csv_response(f"{report}.csv", header, cells)


@router.get(
    "/{report}",
    response_model=AnalyticsReport,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV when format is csv"}},
)
async def analytics(
    kb_id: str,
    report: str,
    services: ServicesDep,
    window: WindowDep,
    limit: int = Query(default=50, ge=1, le=1000, description="Groups returned (question reports)."),
    similarity: float | None = Query(
        default=None,
        ge=0.5,
        le=1.0,
        description="Cosine at which two questions count as the same. Empty: the encoder's own (0.8 for "
        "all-MiniLM-L6-v2, 0.86 for multilingual-e5-small).",
    ),
    confidence: float | None = Query(
        default=None,
        ge=0.0,
        le=1.0,
        description="Answer confidence (calibrated, 0-1) under which an answered question counts as "
        "unsure. Empty: twice the knowledge base's no-answer threshold. Answers stored before confidence "
        "was kept are judged on their best passage's cosine against the cut calibrated for the encoder "
        "(0.4 for all-MiniLM-L6-v2).",
    ),
    format: Literal["json", "csv"] = "json",
) -> AnalyticsReport | Response:
    """One report over the window (see the module docstring for what each holds)."""
    if report not in REPORTS:
        raise NotFound(f"no report {report!r}; reports are {', '.join(REPORTS)}")
    if report in ("top-questions", "content-gaps"):
        options = {"limit": limit, "similarity": similarity, "confidence": confidence}
        data = await anyio.to_thread.run_sync(
            lambda: _groups(services, kb_id, window, gaps=report == "content-gaps", options=options)
        )
    else:
        data = await anyio.to_thread.run_sync(_counts, services, kb_id, window, report)
    if format == "csv":
        return _as_csv(report, data)
    return AnalyticsReport.model_validate(
        {"report": report, "since": window.since, "until": window.until, "data": data}
    )
