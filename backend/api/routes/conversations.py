"""/v1/knowledge-bases/{kb_id}/conversations and /leads: what a support team works from.

A help desk integration (a key with the ``support`` scope) lists conversations waiting for a person,
reads them, answers as a person, and releases them back to the assistant; it also reads the leads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from backend.api.contact_schemas import HandoffRequest, HandoffState, LeadPublic, WidgetMessage
from backend.api.csv_export import csv_response
from backend.api.deps import ServicesDep
from backend.api.window import WindowDep
from backend.catalog import knowledge_bases as kbs
from backend.catalog import leads
from backend.chat import conversations
from backend.db.models import Conversation

router = APIRouter(prefix="/knowledge-bases/{kb_id}", tags=["conversations and leads"])


class ConversationSummary(BaseModel):
    id: str
    channel: str
    visitor_id: str | None
    handoff: bool
    handoff_reason: str | None
    handoff_at: datetime | None
    created_at: datetime


class ConversationDetail(ConversationSummary):
    messages: list[WidgetMessage]


class AgentMessage(BaseModel):
    content: str = Field(min_length=1, max_length=20_000)


def _summary(c: Conversation) -> ConversationSummary:
    return ConversationSummary(
        id=c.id,
        channel=c.channel,
        visitor_id=c.visitor_id,
        handoff=c.handoff_at is not None,
        handoff_reason=c.handoff_reason,
        handoff_at=c.handoff_at,
        created_at=c.created_at,
    )


def _api_view(session: Session, kb_id: str, conversation_id: str) -> Conversation:
    kbs.get(session, kb_id)
    return conversations.reachable(
        session, kb_id=kb_id, conversation_id=conversation_id, channel="api", visitor_id=None
    )


@router.get("/conversations", response_model=list[ConversationSummary])
def list_conversations(
    kb_id: str,
    services: ServicesDep,
    handoff: bool = Query(default=False, description="Only conversations waiting for a person."),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[ConversationSummary]:
    with services.sessions() as session:
        kbs.get(session, kb_id)
        return [_summary(c) for c in conversations.listed(session, kb_id, handoff_only=handoff, limit=limit)]


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
def read_conversation(kb_id: str, conversation_id: str, services: ServicesDep) -> ConversationDetail:
    with services.sessions() as session:
        conversation = _api_view(session, kb_id, conversation_id)
        messages = [
            WidgetMessage.model_validate(m) for m in conversations.messages_since(session, conversation, None)
        ]
        return ConversationDetail(**_summary(conversation).model_dump(), messages=messages)


@router.post("/conversations/{conversation_id}/handoff", response_model=HandoffState)
def hand_off(kb_id: str, conversation_id: str, body: HandoffRequest, services: ServicesDep) -> HandoffState:
    with services.sessions.begin() as session:
        conversation = _api_view(session, kb_id, conversation_id)
        conversations.request_handoff(session, conversation, body.reason)
        return HandoffState(conversation_id=conversation.id, handoff=True, since=conversation.handoff_at)


@router.post("/conversations/{conversation_id}/release", response_model=HandoffState)
def release(kb_id: str, conversation_id: str, services: ServicesDep) -> HandoffState:
    """The assistant answers again from the next message on."""
    with services.sessions.begin() as session:
        conversation = _api_view(session, kb_id, conversation_id)
        conversations.release(session, conversation)
        return HandoffState(conversation_id=conversation.id, handoff=False, since=None)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=WidgetMessage,
)
def answer_as_a_person(
    kb_id: str, conversation_id: str, body: AgentMessage, services: ServicesDep
) -> WidgetMessage:
    """A person's reply; the widget shows it on its next poll."""
    with services.sessions.begin() as session:
        conversation = _api_view(session, kb_id, conversation_id)
        m = conversations.add_agent_message(session, conversation, body.content)
        return WidgetMessage.model_validate(m)


@router.get("/leads", response_model=list[LeadPublic])
def list_leads(
    kb_id: str,
    services: ServicesDep,
    window: WindowDep,
    limit: int = Query(default=1000, ge=1, le=100_000),
    format: Literal["json", "csv"] = "json",
) -> list[LeadPublic] | Response:
    with services.sessions() as session:
        kbs.get(session, kb_id)
        found = [
            LeadPublic.model_validate(x)
            for x in leads.listed(session, kb_id, since=window.since, until=window.until, limit=limit)
        ]
    if format == "csv":
        fields = list(LeadPublic.model_fields)
        return csv_response("leads.csv", fields, ([getattr(x, f) for f in fields] for x in found))
    return found
