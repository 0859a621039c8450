"""Who may call the API, and what widgets used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.models.base import Base, UTCDateTime, new_id, utcnow


class ApiKey(Base):
    """A key scoped to one knowledge base. Only its SHA-256 is stored; the key is shown once.

    ``secret`` keys are for a customer's backend (scopes from read/search/chat/write/manage);
    ``widget`` keys are public by design (they sit in a web page), so they only chat with their
    knowledge base, from the origins listed on it, under rate limits.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # "secret" | "widget"
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the key, to recognise it in a list."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WidgetUsage(Base):
    """Messages the widget of a knowledge base answered on one UTC day (for its daily budget)."""

    __tablename__ = "widget_usage"

    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
