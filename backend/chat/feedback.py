"""Feedback on answers. Only an assistant message of a conversation in the same knowledge base can be
rated, so ids from another tenant are indistinguishable from ids that do not exist."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.db.models import Conversation, Feedback, Message
from backend.errors import NotFound


def record(session: Session, *, kb_id: str, message_id: str, rating: str, comment: str | None) -> Feedback:
    message = session.get(Message, message_id)
    conversation = session.get(Conversation, message.conversation_id) if message else None
    if message is None or conversation is None or conversation.kb_id != kb_id or message.role != "assistant":
        raise NotFound(f"no answer {message_id} in this knowledge base; rate the message_id a chat returned")
    item = Feedback(message_id=message_id, rating=rating, comment=comment)
    session.add(item)
    session.flush()
    return item
