"""Conversations: who may continue one, and human handoff.

A widget conversation belongs to its visitor: with a verified identity only that visitor may read or
continue it; an anonymous one is reachable by its unguessable id alone. The widget never reaches a
conversation started through the API; the API (the customer's trusted backend, or a help desk) reaches
every conversation of its knowledge base. Any mismatch answers 404, like an id that does not exist.

Handoff: the visitor (or the customer's backend) asks for a person. The conversation is marked,
the knowledge base's webhook hears ``handoff.requested`` with the recent transcript, and automatic
answers stop: the visitor's further messages are stored and forwarded (``conversation.message``)
until an operator releases it. A person answers with ``POST .../conversations/{id}/messages``; the
widget polls for those replies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Conversation, Message, utcnow
from backend.errors import NotFound
from backend.notify import webhooks

TRANSCRIPT_TURNS = 20


def reachable(
    session: Session, *, kb_id: str, conversation_id: str, channel: str, visitor_id: str | None
) -> Conversation:
    """The conversation, if this caller may see it; otherwise NotFound (never a hint it exists)."""
    conversation = session.get(Conversation, conversation_id)
    if (
        conversation is None
        or conversation.kb_id != kb_id
        or (channel == "widget" and conversation.channel != "widget")
        or (channel == "widget" and conversation.visitor_id != visitor_id)
    ):
        raise NotFound(
            f"conversation {conversation_id} does not exist in this knowledge base; "
            "omit conversation_id to start a new one"
        )
    return conversation


def transcript(session: Session, conversation_id: str, turns: int = TRANSCRIPT_TURNS) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at.desc())
        .limit(turns)
    ).all()
    return [message_view(m) for m in reversed(rows)]


def message_view(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }


def request_handoff(session: Session, conversation: Conversation, reason: str | None) -> bool:
    """Hand the conversation to a person; False if it already was (announced once, not twice)."""
    if conversation.handoff_at is not None:
        return False
    conversation.handoff_at, conversation.handoff_reason = utcnow(), reason
    webhooks.announce(
        session,
        conversation.kb_id,
        "handoff.requested",
        {
            "conversation_id": conversation.id,
            "visitor_id": conversation.visitor_id,
            "reason": reason,
            "transcript": transcript(session, conversation.id),
        },
    )
    return True


def release(session: Session, conversation: Conversation) -> bool:
    """Automatic answers resume; False if no person had it."""
    if conversation.handoff_at is None:
        return False
    conversation.handoff_at, conversation.handoff_reason = None, None
    webhooks.announce(session, conversation.kb_id, "handoff.released", {"conversation_id": conversation.id})
    return True


def add_agent_message(session: Session, conversation: Conversation, content: str) -> Message:
    message = Message(
        conversation_id=conversation.id, kb_id=conversation.kb_id, role="agent", content=content
    )
    session.add(message)
    session.flush()
    return message


def messages_since(session: Session, conversation: Conversation, since: datetime | None) -> list[Message]:
    query = select(Message).where(Message.conversation_id == conversation.id)
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)  # a bare time means UTC
        query = query.where(Message.created_at > since)
    return list(session.scalars(query.order_by(Message.created_at).limit(200)))


def listed(session: Session, kb_id: str, *, handoff_only: bool, limit: int) -> list[Conversation]:
    query = select(Conversation).where(Conversation.kb_id == kb_id)
    if handoff_only:
        query = query.where(Conversation.handoff_at.is_not(None))
    return list(session.scalars(query.order_by(Conversation.created_at.desc()).limit(limit)))
