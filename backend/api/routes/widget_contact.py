"""/v1/widget/{widget_key}/...: a visitor reaching people: leave contact details, ask for a human,
read a person's replies. Same key, origin and identity rules as the chat (``get_widget``)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request, status

from backend.api.contact_schemas import HandoffRequest, HandoffState, LeadPublic, WidgetMessage
from backend.api.deps import ServicesDep
from backend.api.routes.widget import WidgetDep, limit_rate
from backend.api.window import bounded
from backend.catalog import leads
from backend.catalog.leads import LeadCreate
from backend.chat import conversations
from backend.notify import webhooks

router = APIRouter(prefix="/widget/{widget_key}", tags=["widget"])


@router.post("/leads", status_code=status.HTTP_201_CREATED, response_model=LeadPublic)
def leave_contact(widget: WidgetDep, body: LeadCreate, request: Request, services: ServicesDep) -> LeadPublic:
    """Name and email (validated) and what the visitor wants; the KB's webhook hears ``lead.created``."""
    limit_rate(widget, request, action="write")
    with services.sessions.begin() as session:
        if body.conversation_id is not None:
            widget.conversation(session, body.conversation_id)
        lead = leads.create(session, kb_id=widget.kb_id, body=body, visitor_id=widget.visitor_id)
        public = LeadPublic.model_validate(lead)
        webhooks.announce(session, widget.kb_id, "lead.created", public.model_dump(mode="json"))
        return public


@router.post("/conversations/{conversation_id}/handoff", response_model=HandoffState)
def ask_for_a_person(
    widget: WidgetDep, conversation_id: str, body: HandoffRequest, request: Request, services: ServicesDep
) -> HandoffState:
    """Automatic answers stop and the KB's webhook hears ``handoff.requested`` with the transcript."""
    limit_rate(widget, request, action="write")
    with services.sessions.begin() as session:
        conversation = widget.conversation(session, conversation_id)
        conversations.request_handoff(session, conversation, body.reason)
        return HandoffState(conversation_id=conversation.id, handoff=True, since=conversation.handoff_at)


@router.get("/conversations/{conversation_id}/messages", response_model=list[WidgetMessage])
def read_messages(
    widget: WidgetDep,
    conversation_id: str,
    services: ServicesDep,
    since: datetime | None = Query(default=None, description="Only messages after this time (ISO 8601)."),
) -> list[WidgetMessage]:
    """The conversation's messages (at most 200), e.g. polled for a person's replies after a handoff."""
    since = bounded(since, "since") if since else None
    with services.sessions() as session:
        conversation = widget.conversation(session, conversation_id)
        return [
            WidgetMessage.model_validate(m)
            for m in conversations.messages_since(session, conversation, since)
        ]
