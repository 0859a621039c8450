"""Webhooks: events a knowledge base's widget produces, POSTed to the customer's URL, signed, retried.

An event is a job row (kind ``webhook``), written in the same transaction as what it announces, so
a lead stored is a lead announced, even if the process dies a moment later. The worker delivers
it; a non-2xx answer or a network error is retried with exponential backoff (the job queue's),
``MAX_ATTEMPTS`` times in all, then the job fails with the last error, visible in
``GET /v1/knowledge-bases/{kb_id}/webhook``. Receivers must treat ``X-KBChat-Delivery`` as an
idempotency key: a delivery whose answer was lost is sent again.

Signature (as Stripe's, so receivers know the pattern)::

    X-KBChat-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

Receivers recompute it over the raw body and reject a ``t`` older than a few minutes (replays). The
URL obeys the same address policy as URL ingestion (no private addresses unless allowlisted), is
read at delivery time (fixing a wrong URL fixes pending retries) and redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.catalog import knowledge_bases as kbs
from backend.catalog.urls import UrlPolicy
from backend.catalog.widget import widget_settings
from backend.db.models import Job, KnowledgeBase, new_id, utcnow
from backend.errors import InvalidInput
from backend.jobs.queue import enqueue

if TYPE_CHECKING:
    from backend.jobs.worker import JobContext
    from backend.services import Services

log = logging.getLogger(__name__)

WEBHOOK_JOB = "webhook"
EVENTS = ("lead.created", "handoff.requested", "handoff.released", "conversation.message")
MAX_ATTEMPTS = 8
TIMEOUT_S = 10.0
USER_AGENT = "kbchat-webhooks/1.0"


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


def signature(secret: str, timestamp: int, raw: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def recent(session: Session, kb_id: str, limit: int = 50) -> list[Job]:
    return list(
        session.scalars(
            select(Job)
            .where(Job.kb_id == kb_id, Job.kind == WEBHOOK_JOB)
            .order_by(Job.created_at.desc())
            .limit(limit)
        )
    )


class DeliveryFailed(Exception):
    """The receiver did not take the delivery (non-2xx, timeout, refused connection): retried."""


class WebhookDelivery:
    """The ``webhook`` job handler: one POST, signed at send time."""

    def __init__(self, services: Services) -> None:
        self.sessions = services.sessions
        self.policy = UrlPolicy(services.settings.ingest.url_allowlist)
        self.client = httpx.Client(
            timeout=httpx.Timeout(TIMEOUT_S), follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )
        services.closers.append(self.client.close)

    def __call__(self, ctx: JobContext) -> None:
        body = ctx.job.payload["body"]
        with self.sessions.begin() as session:
            kb = session.get(KnowledgeBase, ctx.job.kb_id)
            if kb is None:
                return  # the knowledge base was deleted: nothing left to tell
            url, secret = widget_settings(kb).webhook_url, ensure_secret(kb)
        if not url:
            raise InvalidInput("the knowledge base no longer has a widget.webhook_url; event dropped")
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        target = self.policy.resolve(url)  # InvalidInput (a private address): fails for good
        headers = {
            "Content-Type": "application/json",
            "X-KBChat-Event": body["event"],
            "X-KBChat-Delivery": body["id"],
            "X-KBChat-Signature": signature(secret, int(time.time()), raw),
        }
        request = target.pinned_request(self.client, "POST", headers=headers, content=raw)
        try:
            response = self.client.send(request)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"POST {url} failed: {exc!r}") from None
        if not response.is_success:
            raise DeliveryFailed(f"POST {url} answered HTTP {response.status_code}: {response.text[:200]!r}")
        log.info("webhook %s %s delivered to %s", body["event"], body["id"], url)
        ctx.result = {"status": response.status_code, "url": url}
