"""Counting reports: the summary, source usage, feedback and leads over a window. Each is a few
indexed aggregate queries (kb_id, created_at), so they stay fast as conversations accumulate."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import Citation, Conversation, Document, Feedback, Lead, Message


@dataclass(frozen=True, slots=True)
class SourceUsage:
    document_id: str
    title: str
    source: str
    citations: int
    last_cited: datetime | None
    exists: bool
    """False: the document was deleted since it was cited."""


def summary(session: Session, kb_id: str, since: datetime, until: datetime) -> dict[str, Any]:
    in_window = (Message.kb_id == kb_id, Message.created_at >= since, Message.created_at < until)
    by_role = dict(
        session.execute(select(Message.role, func.count()).where(*in_window).group_by(Message.role)).all()
    )
    grounded = session.scalar(
        select(func.count()).where(*in_window, Message.role == "assistant", Message.grounded.is_(True))
    )
    conversations = dict(
        session.execute(
            select(Conversation.channel, func.count())
            .where(
                Conversation.kb_id == kb_id, Conversation.created_at >= since, Conversation.created_at < until
            )
            .group_by(Conversation.channel)
        ).all()
    )
    handoffs = session.scalar(
        select(func.count()).where(Conversation.kb_id == kb_id, Conversation.handoff_at.is_not(None))
    )
    ratings = feedback_counts(session, kb_id, since, until)
    answers = by_role.get("assistant", 0)
    return {
        "conversations": sum(conversations.values()),
        "conversations_by_channel": conversations,
        "questions": by_role.get("user", 0),
        "answers": answers,
        "grounded_answers": grounded or 0,
        "grounded_rate": round((grounded or 0) / answers, 4) if answers else None,
        "agent_messages": by_role.get("agent", 0),
        "waiting_for_a_person": handoffs or 0,
        "feedback_up": ratings["up"],
        "feedback_down": ratings["down"],
        "leads": lead_count(session, kb_id, since, until),
    }


def feedback_counts(session: Session, kb_id: str, since: datetime, until: datetime) -> Counter[str]:
    return Counter(
        dict(
            session.execute(
                select(Feedback.rating, func.count())
                .join(Message, Message.id == Feedback.message_id)
                .where(Message.kb_id == kb_id, Message.created_at >= since, Message.created_at < until)
                .group_by(Feedback.rating)
            ).all()
        )
    )


def feedback_by_day(session: Session, kb_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Feedback.created_at, Feedback.rating)
        .join(Message, Message.id == Feedback.message_id)
        .where(Message.kb_id == kb_id, Message.created_at >= since, Message.created_at < until)
    ).all()
    days: dict[str, Counter[str]] = {}
    for created, rating in rows:
        days.setdefault(created.date().isoformat(), Counter())[rating] += 1
    return [
        {"day": day, "up": c["up"], "down": c["down"], "up_rate": round(c["up"] / (c["up"] + c["down"]), 4)}
        for day, c in sorted(days.items())
    ]


def lead_count(session: Session, kb_id: str, since: datetime, until: datetime) -> int:
    return (
        session.scalar(
            select(func.count()).where(Lead.kb_id == kb_id, Lead.created_at >= since, Lead.created_at < until)
        )
        or 0
    )


def leads_by_day(session: Session, kb_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Lead.created_at).where(Lead.kb_id == kb_id, Lead.created_at >= since, Lead.created_at < until)
    ).all()
    days = Counter(created.date().isoformat() for created in rows)
    return [{"day": day, "leads": n} for day, n in sorted(days.items())]


def source_usage(session: Session, kb_id: str, since: datetime, until: datetime) -> list[SourceUsage]:
    """Every document of the knowledge base with its citations in the window (never cited ones
    with 0), plus cited documents deleted since; most cited first."""
    cited = {
        document_id: (n, last)
        for document_id, n, last in session.execute(
            select(Citation.document_id, func.count(), func.max(Citation.created_at))
            .where(Citation.kb_id == kb_id, Citation.created_at >= since, Citation.created_at < until)
            .group_by(Citation.document_id)
        ).all()
    }
    documents = session.execute(
        select(Document.id, Document.title, Document.source).where(Document.kb_id == kb_id)
    ).all()
    usage = []
    for d, t, s in documents:
        n, last = cited.pop(d, (0, None))
        usage.append(SourceUsage(d, t, s, n, last, exists=True))
    usage += [SourceUsage(d, "(deleted)", "", n, last, exists=False) for d, (n, last) in cited.items()]
    usage.sort(key=lambda u: (-u.citations, u.title, u.document_id))
    return usage
