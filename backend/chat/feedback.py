"""Feedback on answers. Only an assistant message of a conversation in the same knowledge base can be
rated, so ids from another tenant are indistinguishable from ids that do not exist."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Conversation, Feedback, Message, utcnow
from backend.errors import NotFound


def record(
    session: Session,
    *,
    kb_id: str,
    message_id: str,
    rating: str,
    comment: str | None,
    one_per_message: bool = False,
) -> Feedback:
    """Store a rating. ``one_per_message``: the answer's earlier rating is changed instead of a second
    one added (the widget: only the conversation's own visitor reaches its answers, and one visitor
    must not be able to post two hundred down-votes on one answer)."""
    message = session.get(Message, message_id)
    conversation = session.get(Conversation, message.conversation_id) if message else None
    if message is None or conversation is None or conversation.kb_id != kb_id or message.role != "assistant":
        raise NotFound(f"no answer {message_id} in this knowledge base; rate the message_id a chat returned")
    item = (
        session.scalar(select(Feedback).where(Feedback.message_id == message_id).limit(1))
        if one_per_message
        else None
    )
    if item is None:
        item = Feedback(message_id=message_id, rating=rating, comment=comment)
        session.add(item)
    else:
        item.rating, item.comment, item.created_at = rating, comment, utcnow()
    session.flush()
    return item
