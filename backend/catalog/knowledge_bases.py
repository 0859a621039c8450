"""Knowledge-base data functions. Deleting one removes its vectors before its rows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog.names import display_name
from backend.catalog.widget import WidgetSettings
from backend.db.models import Document, EncoderVersion, KnowledgeBase
from backend.errors import Conflict, InvalidInput, NotFound
from backend.keywords import encoder as keywords
from backend.llm.config import ChatSettings
from backend.retrieval.config import RetrievalSettings
from backend.vectorstore.base import VectorStore

log = logging.getLogger(__name__)


def retrieval_settings(kb: KnowledgeBase) -> RetrievalSettings:
    """The KB's stored overrides on top of the defaults (defaults may improve between releases)."""
    return _retrieval(kb.retrieval)


def chat_settings(kb: KnowledgeBase) -> ChatSettings:
    return _chat(kb.chat)


def _retrieval(stored: dict[str, Any] | None) -> RetrievalSettings:
    return RetrievalSettings.model_validate(stored or {})


def _chat(stored: dict[str, Any] | None) -> ChatSettings:
    return ChatSettings.model_validate(stored or {})


def search_settings(session: Session, kb_id: str) -> tuple[RetrievalSettings, ChatSettings]:
    """A knowledge base's retrieval and chat settings, for a search or a chat turn; 404 if it does not
    exist. Two columns in one Core query: loading the whole row as an ORM object (identity map, its
    encoder version by ``selectin``) was the costliest step of a search the query cache answers."""
    row = session.execute(
        select(KnowledgeBase.retrieval, KnowledgeBase.chat).where(KnowledgeBase.id == kb_id)
    ).first()
    if row is None:
        raise NotFound(f"knowledge base {kb_id} does not exist; GET /v1/knowledge-bases lists them")
    return _retrieval(row[0]), _chat(row[1])


def create(
    session: Session, *, name: str, description: str = "", retrieval: RetrievalSettings | None = None
) -> KnowledgeBase:
    default = session.scalar(select(EncoderVersion.id).where(EncoderVersion.active.is_(True)))
    kb = KnowledgeBase(
        description=description,
        retrieval=retrieval.model_dump(mode="json", exclude_unset=True) if retrieval else {},
        encoder_version_id=default,  # the operator's service-wide choice, else the base model
        keywords=keywords.CURRENT,
    )
    _claim_name(session, kb, name)
    return kb


def _claim_name(session: Session, kb: KnowledgeBase, name: str) -> None:
    """Give ``kb`` the name (checked, trimmed) and write it (adding a new ``kb``), or a 409 if another
    knowledge base has it; also when a concurrent create or rename took it between the check and the
    write (the unique index says so). A new ``kb`` joins the session only after the check, so the
    check's query cannot autoflush it without a name."""
    name = display_name(name, what="knowledge base name")
    taken = select(KnowledgeBase.id).where(KnowledgeBase.name == name)
    if kb.id is not None:
        taken = taken.where(KnowledgeBase.id != kb.id)
    if session.scalar(taken):
        raise Conflict(f"a knowledge base named {name!r} already exists; pick another name")
    kb.name = name
    session.add(kb)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a knowledge base named {name!r} already exists; pick another name") from exc


def get(session: Session, kb_id: str) -> KnowledgeBase:
    kb = session.get(KnowledgeBase, kb_id)
    if kb is None:
        raise NotFound(f"knowledge base {kb_id} does not exist; GET /v1/knowledge-bases lists them")
    return kb


def _merged(model: type[BaseModel], stored: dict[str, Any], changes: dict[str, Any], name: str) -> Any:
    """Stored overrides plus ``changes``, validated as a whole: (the model, the overrides to store)."""
    merged = {**(stored or {}), **changes}
    try:
        valid = model.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(f"{name}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(problems) from None
    return valid, valid.model_dump(mode="json", include=set(merged))


def update(
    session: Session,
    kb_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    retrieval: dict[str, Any] | None = None,
    chat: dict[str, Any] | None = None,
    check_chat: Callable[[ChatSettings], None] | None = None,
    widget: dict[str, Any] | None = None,
) -> KnowledgeBase:
    """Rename, change the description and/or merge settings overrides (each validated before anything
    is saved). The id never changes, so keys, widgets and vectors keep working after a rename."""
    kb = get(session, kb_id)
    if name is not None:
        _claim_name(session, kb, name)
    if description is not None:
        kb.description = description
    if retrieval is not None:
        _, kb.retrieval = _merged(RetrievalSettings, kb.retrieval, retrieval, "retrieval")
    if chat is not None:
        valid, stored = _merged(ChatSettings, kb.chat, chat, "chat")
        if check_chat is not None:
            check_chat(valid)
        kb.chat = stored
    if widget is not None:
        _, kb.widget = _merged(WidgetSettings, kb.widget, widget, "widget")
    return kb


def get_by_name(session: Session, name: str) -> KnowledgeBase:
    kb = session.scalar(select(KnowledgeBase).where(KnowledgeBase.name == name))
    if kb is None:
        raise NotFound(f"no knowledge base named {name!r}; create it first")
    return kb


def list_all(session: Session) -> list[KnowledgeBase]:
    return list(session.scalars(select(KnowledgeBase).order_by(KnowledgeBase.created_at)))


def document_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Document.kb_id, func.count()).group_by(Document.kb_id))
    return {kb_id: count for kb_id, count in rows}


def delete(sessions: sessionmaker[Session], stores: Sequence[VectorStore], kb_id: str) -> None:
    """Vectors first: if the store is down the rows stay and the call can be retried (503).

    ``stores``: every collection that may hold its points (its encoder's, and the one it is leaving
    or moving to while an activation runs)."""
    with sessions() as session:
        get(session, kb_id)
    for vectors in stores:
        vectors.delete_knowledge_base(kb_id=kb_id)
    with sessions.begin() as session:
        kb = session.get(KnowledgeBase, kb_id)
        if kb is not None:
            session.delete(kb)
    # A worker may have written between the two steps; its own existence check cleans up too.
    for vectors in stores:
        vectors.delete_knowledge_base(kb_id=kb_id)
    log.info("knowledge base %s deleted", kb_id)
