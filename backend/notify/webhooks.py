"""Webhook events: what a knowledge base's widget and chat produce, queued for the customer's URL.

An event is a job row (kind ``webhook``), written in the same transaction as what it announces, so
a lead stored is a lead announced, even if the process dies a moment later. A worker delivers it
(``backend/notify/delivery.py``); a non-2xx answer or a network error is retried with exponential
backoff (the job queue's), ``MAX_ATTEMPTS`` times in all, then the job fails with the last error,
visible in ``GET /v1/knowledge-bases/{kb_id}/webhook``. Receivers must treat ``X-KBChat-Delivery``
as an idempotency key: a delivery whose answer was lost is sent again.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.catalog import knowledge_bases as kbs
from backend.catalog.widget import widget_settings
from backend.db.models import Job, KnowledgeBase, new_id, utcnow
from backend.jobs.queue import enqueue

WEBHOOK_JOB = "webhook"
EVENTS = ("lead.created", "handoff.requested", "handoff.released", "conversation.message")
MAX_ATTEMPTS = 8


def ensure_secret(kb: KnowledgeBase) -> str:
    if kb.webhook_secret is None:
        kb.webhook_secret = f"kbwh_{secrets.token_urlsafe(32)}"
    return kb.webhook_secret


def rotate_secret(session: Session, kb_id: str) -> str:
    kb = kbs.get(session, kb_id)
    kb.webhook_secret = None
    return ensure_secret(kb)


def announce(session: Session, kb_id: str, event: str, data: dict[str, Any]) -> Job | None:
    """Queue ``event`` for the knowledge base's webhook, in the caller's transaction (None: no URL)."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    kb = kbs.get(session, kb_id)
    if not widget_settings(kb).webhook_url:
        return None
    ensure_secret(kb)  # so every delivery is signed; GET .../webhook shows it to the operator
    body = {"id": new_id(), "event": event, "created_at": utcnow().isoformat(), "kb_id": kb_id, "data": data}
    return enqueue(session, kind=WEBHOOK_JOB, kb_id=kb_id, payload={"body": body}, max_attempts=MAX_ATTEMPTS)


def recent(session: Session, kb_id: str, limit: int = 50) -> list[Job]:
    return list(
        session.scalars(
            select(Job)
            .where(Job.kb_id == kb_id, Job.kind == WEBHOOK_JOB)
            .order_by(Job.created_at.desc())
            .limit(limit)
        )
    )
