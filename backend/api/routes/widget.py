"""/v1/widget/{widget_key}/...: what the chat widget on a customer's site calls, with a public key.

A widget key sits in a web page, so it is public by design. It only chats with its own knowledge
base, and only from the origins listed on it (``widget.allowed_origins``), which the browser
enforces through CORS. It is limited per visitor (IP address) and per key, per minute, and by a
daily message budget; each limit answers 429 with ``Retry-After``. The key is part of the path, so
a CORS preflight (which carries no custom headers) can be answered for the right knowledge base.

A visitor is anonymous (limited per IP address) unless the page passes a token signed by the
customer's backend in ``X-Visitor-Token`` (backend/catalog/identity.py); a knowledge base can
require one. A present token is always verified: a bad one is a 401, never a silent downgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from backend.api.deps import ServicesDep
from backend.api.routes.search import run_chat
from backend.api.schemas import ChatRequest, ChatResponse, FeedbackCreate, FeedbackPublic
from backend.catalog import identity, keys
from backend.catalog import knowledge_bases as kbs
from backend.catalog.identity import Visitor
from backend.catalog.widget import WidgetSettings, consume_budget, refund_budget, widget_settings
from backend.chat import conversations, feedback
from backend.db.models import Conversation, Message
from backend.errors import Forbidden, InvalidInput, KbchatError, RateLimited, Unauthorized
from backend.services import Services

router = APIRouter(prefix="/widget/{widget_key}", tags=["widget"])
CORS_MAX_AGE_S = 600
VISITOR_HEADER = "X-Visitor-Token"


@dataclass(frozen=True, slots=True)
class Widget:
    kb_id: str
    key_id: str
    settings: WidgetSettings
    visitor: Visitor | None
    """Verified by a signed token; None for an anonymous visitor."""
    caller: str
    """Whom per-visitor limits count: the verified visitor, else the IP address."""

    @property
    def visitor_id(self) -> str | None:
        return self.visitor.id if self.visitor else None

    def conversation(self, session: Session, conversation_id: str) -> Conversation:
        """One of this visitor's widget conversations, or 404 (see backend/chat/conversations.py)."""
        return conversations.reachable(
            session,
            kb_id=self.kb_id,
            conversation_id=conversation_id,
            channel="widget",
            visitor_id=self.visitor_id,
        )


def _load(services: Services, widget_key: str) -> tuple[str, str, WidgetSettings, str | None]:
    with services.sessions() as session:
        key = keys.find(session, widget_key)
        if key is None or key.kind != "widget":
            raise Unauthorized(
                "unknown or revoked widget key; copy the current one from the knowledge base's keys"
            )
        kb = kbs.get(session, key.kb_id)
        return key.kb_id, key.id, widget_settings(kb), kb.identity_secret


def _visitor(kb_id: str, settings: WidgetSettings, secret: str | None, token: str | None) -> Visitor | None:
    if token:
        if secret is None:
            raise Unauthorized(
                "this knowledge base has no identity secret, so visitor tokens cannot be checked; "
                "create one (POST /v1/knowledge-bases/{kb_id}/identity/rotate) or stop sending the token"
            )
        return identity.verify(token, secret, kb_id=kb_id)
    if settings.require_identity:
        raise Unauthorized(
            "this assistant is for signed-in visitors: send X-Visitor-Token, signed by the site's server"
        )
    return None


async def get_widget(widget_key: str, request: Request, services: ServicesDep) -> Widget:
    kb_id, key_id, settings, secret = await anyio.to_thread.run_sync(_load, services, widget_key)
    origin = (request.headers.get("origin") or "").lower().rstrip("/")
    if not origin and request.headers.get("sec-fetch-site") == "same-origin":
        # Browsers omit Origin on same-origin GETs (the demo page served here); Sec-Fetch-Site,
        # which pages cannot set, says where it came from.
        origin = str(request.base_url).lower().rstrip("/")
    if not settings.allowed_origins:
        raise Forbidden(
            "the widget is off: list the site's origin in the knowledge base's widget.allowed_origins"
        )
    if origin not in settings.allowed_origins:
        raise Forbidden(
            f"origin {origin or '(none)'!r} may not use this widget; add it to widget.allowed_origins"
        )
    request.state.cors_origin = origin  # read by the CORS middleware in app.py
    if request.method == "OPTIONS":  # a preflight carries no token; the real request will
        return Widget(kb_id, key_id, settings, None, "")
    visitor = _visitor(kb_id, settings, secret, request.headers.get(VISITOR_HEADER))
    ip = request.client.host if request.client else "unknown"
    return Widget(kb_id, key_id, settings, visitor, visitor.id if visitor else f"ip:{ip}")


WidgetDep = Annotated[Widget, Depends(get_widget)]


class WidgetConfig(BaseModel):
    assistant_name: str
    greeting: str
    primary_color: str
    logo_url: str | None
    tone: str | None


@router.options("/{path:path}", include_in_schema=False)
def preflight(widget: WidgetDep) -> Response:
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": f"Content-Type, {VISITOR_HEADER}",
            "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
        },
    )


@router.get("/config", response_model=WidgetConfig)
def config(widget: WidgetDep) -> WidgetConfig:
    return WidgetConfig(**widget.settings.model_dump(include=set(WidgetConfig.model_fields)))


def limit_rate(widget: Widget, request: Request, *, action: str = "chat") -> None:
    """The per-visitor and per-key limits (429 with the seconds to wait). Chat messages and the other
    public writes (``action="write"``: ratings, leads, handoff requests) are counted apart, so rating
    answers never uses up a visitor's questions, and neither can be used to flood the other."""
    limiter = request.app.state.rate_limiter
    suffix = "" if action == "chat" else f":{action}"
    for scope, limit in (
        (f"{widget.key_id}:{widget.caller}{suffix}", widget.settings.messages_per_minute),
        (f"{widget.key_id}{suffix}", widget.settings.key_messages_per_minute),
    ):
        wait = limiter.hit(scope, limit)
        if wait is not None:
            raise RateLimited(f"too many messages; try again in {wait} s", retry_after_s=wait)


def _admit(services: Services, widget: Widget, request: Request) -> None:
    """The rate limits and the daily budget, in that order (a refused burst costs no budget)."""
    limit_rate(widget, request)
    with services.sessions.begin() as session:
        if not consume_budget(session, widget.kb_id, widget.settings.daily_budget):
            now = datetime.now(UTC)
            midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            raise RateLimited(
                "this assistant has answered its messages for today; it is back after midnight UTC",
                retry_after_s=int((midnight - now).total_seconds()),
            )


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream is true"}
    },
)
async def chat(
    widget: WidgetDep, body: ChatRequest, request: Request, services: ServicesDep
) -> ChatResponse | StreamingResponse:
    if len(body.message) > widget.settings.max_message_chars:
        raise InvalidInput(
            f"the message is {len(body.message)} characters; this assistant takes at most "
            f"{widget.settings.max_message_chars}"
        )
    await anyio.to_thread.run_sync(_admit, services, widget, request)
    try:
        return await run_chat(services, widget.kb_id, body, channel="widget", visitor_id=widget.visitor_id)
    except KbchatError:  # refused before answering (bad input, unknown conversation): costs nothing
        await anyio.to_thread.run_sync(_refund, services, widget.kb_id)
        raise


def _refund(services: Services, kb_id: str) -> None:
    with services.sessions.begin() as session:
        refund_budget(session, kb_id)


@router.post(
    "/messages/{message_id}/feedback", status_code=status.HTTP_201_CREATED, response_model=FeedbackPublic
)
def give_feedback(
    widget: WidgetDep, message_id: str, body: FeedbackCreate, request: Request, services: ServicesDep
) -> FeedbackPublic:
    """Rate an answer; rating it again changes the rating (one per answer)."""
    limit_rate(widget, request, action="write")
    with services.sessions.begin() as session:
        message = session.get(Message, message_id)
        if message is not None:  # an unknown id gets feedback.record's own 404
            widget.conversation(session, message.conversation_id)
        record = feedback.record(
            session,
            kb_id=widget.kb_id,
            message_id=message_id,
            rating=body.rating,
            comment=body.comment,
            one_per_message=True,
        )
        return FeedbackPublic.model_validate(record)
