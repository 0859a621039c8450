"""Conversations and what analytics and fine-tuning read of them: messages, question vectors,
citations, leads, feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db.models.base import Base, UTCDateTime, new_id, utcnow


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    """Where it happens: "api" (a customer's backend or the admin) or "widget" (a web page)."""
    visitor_id: Mapped[str | None] = mapped_column(String(200), index=True)
    """The verified visitor (a signed identity token's subject); None for anonymous visitors."""
    handoff_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Set while a person handles the conversation: automatic answers stop until it is released."""
    handoff_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.created_at", cascade="all, delete-orphan"
    )


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_kb_role_created", "kb_id", "role", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    kb_id: Mapped[str | None] = mapped_column(String(36))
    """The conversation's knowledge base, repeated so analytics scan one index, not a join."""
    role: Mapped[str] = mapped_column(String(20))  # "user" | "assistant" | "agent" (a person)
    content: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    """Assistant turns: provider, model, usage, timings, fallbacks, the search query used."""
    reply_to: Mapped[str | None] = mapped_column(String(36), index=True)
    """Assistant turns: the user message answered."""
    relevance: Mapped[float | None] = mapped_column(Float)
    """Assistant turns: the best passage's dense cosine (None: nothing was retrieved at all)."""
    grounded: Mapped[bool | None] = mapped_column()
    """Assistant turns: at least one passage cleared the confidence gate."""
    confidence: Mapped[float | None] = mapped_column(Float)
    """Assistant turns: the calibrated probability that the best passage answers the question
    (backend/retrieval/confidence.py); None for turns stored before it existed."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class QuestionVector(Base):
    """A question's embedding, kept from the search that answered it, so analytics can group
    questions by meaning without re-encoding them. ``model_id`` says which encoder made it."""

    __tablename__ = "question_vectors"

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(500))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    """float16, L2-normalised."""


class Citation(Base):
    """A document an answer cited: source usage reports are one indexed GROUP BY over these rows.
    No foreign key to documents, so a deleted document's history still counts."""

    __tablename__ = "citations"
    __table_args__ = (Index("ix_citations_kb_created", "kb_id", "created_at"),)

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kb_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lead(Base):
    """A visitor who left their contact details in the widget."""

    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_kb_created", "kb_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    visitor_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feedback(Base):
    """A reader's verdict on an answer: analytics, and positive pairs for fine-tuning."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    rating: Mapped[str] = mapped_column(String(8))  # "up" | "down"
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
