"""Delivering webhook events: the ``webhook`` job handler, one signed POST per attempt.

Announcing an event (``backend/notify/webhooks.py``) needs only the caller's transaction; delivering
it needs an HTTP client and the address policy, so the two live apart and chat, which announces,
never depends on what delivers.

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
import time

import httpx
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog.urls import UrlPolicy
from backend.catalog.widget import widget_settings
from backend.db.models import KnowledgeBase
from backend.errors import InvalidInput
from backend.jobs.worker import JobContext
from backend.notify.webhooks import ensure_secret

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
USER_AGENT = "kbchat-webhooks/1.0"


def signature(secret: str, timestamp: int, raw: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class DeliveryFailed(Exception):
    """The receiver did not take the delivery (non-2xx, timeout, refused connection): retried."""


class WebhookDelivery:
    """The ``webhook`` job handler. Holds one pooled HTTP client: call :meth:`close` at shutdown."""

    def __init__(self, sessions: sessionmaker[Session], policy: UrlPolicy) -> None:
        self.sessions = sessions
        self.policy = policy
        self.client = httpx.Client(
            timeout=httpx.Timeout(TIMEOUT_S), follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    def close(self) -> None:
        self.client.close()

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
