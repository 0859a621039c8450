"""One chat turn: store the question, retrieve, keep the relevant passages, answer, cite, store.

Relevance is judged on the dense cosine (``Passage.relevance``), never a fused rank score, so the
"nothing relevant found" decision means the same thing in every search mode.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.chat.citations import citations_for
from backend.db.models import Conversation, Message
from backend.errors import InvalidInput, NotFound
from backend.llm.base import LLMProvider, Prompt, Source, Turn
from backend.retrieval.config import RetrievalSettings
from backend.retrieval.search import Retriever
from backend.vectorstore.base import SearchFilters

log = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4000
HISTORY_TURNS = 6


@dataclass(slots=True)
class ChatAnswer:
    answer: str
    citations: list[dict[str, Any]]
    conversation_id: str
    message_id: str
    provider: str
    timings_ms: dict[str, float] = field(default_factory=dict)


class ChatService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        retriever: Retriever,
        provider: LLMProvider,
        *,
        top_k: int = 5,
        min_score: float = 0.3,
    ) -> None:
        self.sessions, self.retriever, self.provider = sessions, retriever, provider
        self.top_k, self.min_score = top_k, min_score

    def _start_turn(self, kb_id: str, message: str, conversation_id: str | None) -> tuple[str, list[Turn]]:
        with self.sessions.begin() as session:
            if conversation_id is None:
                conversation = Conversation(kb_id=kb_id)
                session.add(conversation)
                session.flush()
            else:
                conversation = session.get(Conversation, conversation_id)
                if conversation is None or conversation.kb_id != kb_id:
                    raise NotFound(
                        f"conversation {conversation_id} does not exist in this knowledge base; "
                        "omit conversation_id to start a new one"
                    )
            history = session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.created_at.desc())
                .limit(HISTORY_TURNS)
            ).all()
            session.add(Message(conversation_id=conversation.id, role="user", content=message))
            return conversation.id, [Turn(m.role, m.content) for m in reversed(history)]

    def _finish_turn(self, conversation_id: str, answer: str, citations: list[dict[str, Any]]) -> str:
        with self.sessions.begin() as session:
            reply = Message(
                conversation_id=conversation_id, role="assistant", content=answer, citations=citations
            )
            session.add(reply)
            session.flush()
            return reply.id

    async def answer(
        self,
        *,
        kb_id: str,
        message: str,
        conversation_id: str | None = None,
        config: RetrievalSettings | None = None,
        filters: SearchFilters | None = None,
    ) -> ChatAnswer:
        """One turn. ``config`` is the knowledge base's retrieval settings; its ``min_relevance``, when
        set, replaces the service-wide ``min_score`` as the "is this passage relevant" line."""
        config = config or RetrievalSettings()
        threshold = config.min_relevance if config.min_relevance is not None else self.min_score
        message = message.strip()
        if not message:
            raise InvalidInput("message is empty; send the user's question")
        if len(message) > MAX_MESSAGE_CHARS:
            raise InvalidInput(f"message is {len(message)} characters; the limit is {MAX_MESSAGE_CHARS}")
        started = time.perf_counter()
        conversation_id, history = await anyio.to_thread.run_sync(
            self._start_turn, kb_id, message, conversation_id
        )
        result = await anyio.to_thread.run_sync(
            lambda: self.retriever.search(
                kb_id=kb_id, query=message, top_k=self.top_k, config=config, filters=filters
            )
        )
        passages = [p for p in result.passages if p.relevance >= threshold]
        retrieved = time.perf_counter()
        prompt = Prompt(
            question=message,
            sources=[Source(i, p.title, p.text) for i, p in enumerate(passages, start=1)],
            history=history,
        )
        answer = "".join([piece async for piece in self.provider.stream(prompt)]).strip()
        citations = citations_for(answer, passages)
        message_id = await anyio.to_thread.run_sync(self._finish_turn, conversation_id, answer, citations)
        done = time.perf_counter()
        timings = {
            "retrieval": (retrieved - started) * 1000,
            "generation": (done - retrieved) * 1000,
            "total": (done - started) * 1000,
        }
        log.info(
            "chat kb=%s conversation=%s passages=%d/%d cited=%d in %.0fms",
            kb_id,
            conversation_id,
            len(passages),
            len(result.passages),
            len(citations),
            timings["total"],
        )
        return ChatAnswer(answer, citations, conversation_id, message_id, self.provider.name, timings)
