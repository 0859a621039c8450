"""Schemas shared by the widget's and the API's conversation, handoff and lead endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class LeadPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    name: str | None
    note: str | None
    conversation_id: str | None
    visitor_id: str | None
    created_at: datetime


class HandoffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)


class HandoffState(BaseModel):
    conversation_id: str
    handoff: bool
    since: datetime | None


class WidgetMessage(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    role: str
    content: str
    created_at: datetime
