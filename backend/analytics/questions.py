"""The questions of a time window, with their answers' confidence and ratings and their embeddings;
and the two reports built on them: top questions and content gaps.

Embeddings come from the search that answered each question (``question_vectors``), so a report
encodes nothing in the common case. Questions without one for the current encoder (asked before an
encoder change, or through a path that kept none) are encoded here, at most ``MAX_BACKFILL`` per
call, and stored, so each is paid for once. Beyond the cap, a question groups by exact phrasing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session, aliased

from backend.analytics.grouping import Group, group, phrasings
from backend.db.models import Feedback, Message, QuestionVector
from backend.encoder.base import Embedder

log = logging.getLogger(__name__)
MAX_BACKFILL = 20_000


@dataclass(slots=True)
class Question:
    id: str
    text: str
    asked_at: datetime
    vector: np.ndarray | None
    answered: bool
    relevance: float | None
    grounded: bool | None
    up: int = 0
    down: int = 0


def load(
    session: Session, kb_id: str, since: datetime, until: datetime, embedder: Embedder | None
) -> list[Question]:
    answer = aliased(Message)
    rows = session.execute(
        select(
            Message.id,
            Message.content,
            Message.created_at,
            QuestionVector.model_id,
            QuestionVector.vector,
            answer.id,
            answer.relevance,
            answer.grounded,
        )
        .outerjoin(QuestionVector, QuestionVector.message_id == Message.id)
        .outerjoin(answer, and_(answer.reply_to == Message.id, answer.role == "assistant"))
        .where(
            Message.kb_id == kb_id,
            Message.role == "user",
            Message.created_at >= since,
            Message.created_at < until,
        )
    ).all()
    model = embedder.model_id if embedder is not None else None
    questions, answer_of = [], {}
    for qid, text, asked, model_id, blob, aid, relevance, grounded in rows:
        vector = (
            np.frombuffer(blob, dtype=np.float16).astype(np.float32) if blob and model_id == model else None
        )
        questions.append(Question(qid, text, asked, vector, aid is not None, relevance, grounded))
        if aid is not None:
            answer_of[aid] = questions[-1]
    ratings = session.execute(
        select(Feedback.message_id, Feedback.rating)
        .join(Message, Message.id == Feedback.message_id)
        .where(Message.kb_id == kb_id, Message.created_at >= since, Message.created_at < until)
    ).all()
    for message_id, rating in ratings:
        question = answer_of.get(message_id)
        if question is not None:
            if rating == "up":
                question.up += 1
            else:
                question.down += 1
    if embedder is not None:
        _backfill(session, embedder, [q for q in questions if q.vector is None][:MAX_BACKFILL])
    return questions


def _backfill(session: Session, embedder: Embedder, missing: list[Question]) -> None:
    if not missing:
        return
    log.info("encoding %d questions that have no %s embedding yet", len(missing), embedder.model_id)
    texts = list(dict.fromkeys(q.text for q in missing))
    vectors = dict(zip(texts, embedder.embed_queries(texts), strict=True))
    ids = [q.id for q in missing]
    for start in range(0, len(ids), 1000):
        session.execute(
            delete(QuestionVector).where(QuestionVector.message_id.in_(ids[start : start + 1000]))
        )
    for q in missing:
        q.vector = np.asarray(vectors[q.text], dtype=np.float32)
        session.add(
            QuestionVector(
                message_id=q.id,
                model_id=embedder.model_id,
                vector=q.vector.astype(np.float16).tobytes(),
            )
        )


def grouped(questions: list[Question], threshold: float) -> list[tuple[Group, list[Question]]]:
    items = phrasings(
        [q.text for q in questions], [q.asked_at for q in questions], [q.vector for q in questions]
    )
    return [(g, [questions[i] for i in g.members]) for g in group(items, threshold)]


def gap_reasons(question: Question, confidence: float) -> list[str]:
    """Why an answered question counts as a content gap (empty: it does not)."""
    if not question.answered:
        return []  # every provider failed: an outage, not missing content
    reasons = []
    if not question.grounded:
        reasons.append("no_relevant_passage")
    elif question.relevance is not None and question.relevance < confidence:
        reasons.append("low_confidence")
    if question.down > question.up:
        reasons.append("downvoted")
    return reasons
