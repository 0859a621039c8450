"""Leads: contact details a visitor leaves in the widget, stored and announced by webhook."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Conversation, Lead
from backend.errors import NotFound


class LeadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: EmailStr = Field(max_length=320, description="Checked for syntax (email-validator), not sent to.")
    name: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000, description="What the visitor wants.")
    conversation_id: str | None = Field(default=None, max_length=36)


def create(session: Session, *, kb_id: str, body: LeadCreate, visitor_id: str | None) -> Lead:
    if body.conversation_id is not None:
        conversation = session.get(Conversation, body.conversation_id)
        if conversation is None or conversation.kb_id != kb_id:
            raise NotFound(f"conversation {body.conversation_id} does not exist in this knowledge base")
    lead = Lead(
        kb_id=kb_id,
        conversation_id=body.conversation_id,
        visitor_id=visitor_id,
        name=body.name or None,
        email=str(body.email),
        note=body.note or None,
    )
    session.add(lead)
    session.flush()
    return lead


def listed(session: Session, kb_id: str, *, since: datetime, until: datetime, limit: int) -> list[Lead]:
    query = select(Lead).where(Lead.kb_id == kb_id, Lead.created_at >= since, Lead.created_at < until)
    return list(session.scalars(query.order_by(Lead.created_at.desc()).limit(limit)))
