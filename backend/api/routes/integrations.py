"""/v1/knowledge-bases/{kb_id}/identity and /webhook: the secrets a customer's systems share with us.

Both are random, generated here, and shown to a caller with the ``manage`` scope: the identity
secret once, at rotation (it signs visitor tokens; rotating invalidates every token in flight); the
webhook secret whenever asked (a receiver needs it to verify signatures, as in Stripe's dashboard).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel

from backend.api.deps import ServicesDep
from backend.catalog import identity
from backend.catalog import knowledge_bases as kbs
from backend.catalog.widget import widget_settings
from backend.notify import webhooks

router = APIRouter(prefix="/knowledge-bases/{kb_id}", tags=["integrations"])


class IdentitySecret(BaseModel):
    secret: str
    algorithm: str = identity.ALGORITHM
    max_lifetime_s: int = identity.MAX_LIFETIME_S
    header: str = "X-Visitor-Token"


class Delivery(BaseModel):
    id: str
    event: str
    status: str
    attempts: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    result: dict[str, Any] | None


class WebhookState(BaseModel):
    url: str | None
    secret: str
    events: list[str]
    recent: list[Delivery]


@router.post("/identity/rotate", response_model=IdentitySecret)
def rotate_identity_secret(kb_id: str, services: ServicesDep) -> IdentitySecret:
    """A new secret for signing visitor tokens; shown once, the old one stops working at once."""
    with services.sessions.begin() as session:
        return IdentitySecret(secret=identity.rotate_secret(session, kb_id))


@router.delete("/identity", status_code=status.HTTP_204_NO_CONTENT)
def disable_identity(kb_id: str, services: ServicesDep) -> None:
    """Visitors are anonymous again (a knowledge base that requires identity then refuses everyone)."""
    with services.sessions.begin() as session:
        identity.clear_secret(session, kb_id)


def _webhook_state(services: ServicesDep, kb_id: str, *, rotate: bool) -> WebhookState:
    with services.sessions.begin() as session:
        kb = kbs.get(session, kb_id)
        secret = webhooks.rotate_secret(session, kb_id) if rotate else webhooks.ensure_secret(kb)
        recent = [
            Delivery(
                id=job.id,
                event=job.payload["body"]["event"],
                status=job.status.value,
                attempts=job.attempts,
                error=job.error,
                created_at=job.created_at,
                finished_at=job.finished_at,
                result=job.payload.get("result"),
            )
            for job in webhooks.recent(session, kb_id)
        ]
        return WebhookState(
            url=widget_settings(kb).webhook_url, secret=secret, events=list(webhooks.EVENTS), recent=recent
        )


@router.get("/webhook", response_model=WebhookState)
def webhook(kb_id: str, services: ServicesDep) -> WebhookState:
    """The URL (set with PATCH widget.webhook_url), the signing secret and the last 50 deliveries."""
    return _webhook_state(services, kb_id, rotate=False)


@router.post("/webhook/rotate", response_model=WebhookState)
def rotate_webhook_secret(kb_id: str, services: ServicesDep) -> WebhookState:
    return _webhook_state(services, kb_id, rotate=True)
