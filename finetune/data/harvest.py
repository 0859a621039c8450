"""Pairs from the chat log: a question whose answer a reader liked, paired with each passage it cited.

A thumbs-up says the cited passages answered the question, which is exactly a labelled positive;
answers without feedback or with a thumbs-down are not used (a cited passage may still be wrong).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Conversation, Feedback, Message
from finetune.data.pairs import TrainingPair


def liked_pairs(session: Session, kb_id: str, *, limit: int = 50_000) -> list[TrainingPair]:
    liked = session.scalars(
        select(Message)
        .join(Feedback, Feedback.message_id == Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.kb_id == kb_id, Feedback.rating == "up", Message.role == "assistant")
        .order_by(Message.created_at)
        .limit(limit)
    ).unique()
    pairs: list[TrainingPair] = []
    seen: set[tuple[str, str]] = set()
    for answer in liked:
        question = session.scalar(
            select(Message.content)
            .where(
                Message.conversation_id == answer.conversation_id,
                Message.role == "user",
                Message.created_at <= answer.created_at,
            )
            .order_by(Message.created_at.desc())
            .limit(1)
        )
        if not question:
            continue
        for cited in answer.citations or []:
            text = (cited.get("text") or "").strip()
            if text and (question, text) not in seen:
                seen.add((question, text))
                pairs.append(TrainingPair(question, text, doc_id=cited.get("document_id")))
    return pairs
