"""One chat turn as a stream of events: store the question, rewrite a follow-up into a standalone
query, retrieve, keep the relevant passages, answer down the provider chain, cite, store.

``answer()`` is ``stream()`` collected, so streamed and non-streamed answers cannot differ.
Whether to answer is decided on each passage's calibrated confidence (backend/retrieval/confidence.py),
never a raw cosine or a fused score: passages under the cut are not shown to the answerer, and with
none left the answer is "I couldn't find it".
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.chat import conversations
from backend.chat.citations import citations_for
from backend.chat.events import ACCEPTED, ChatEvent
from backend.chat.rewrite import standalone_query
from backend.db.models import Citation, Conversation, Message, QuestionVector
from backend.errors import InvalidInput, UpstreamError, UpstreamTimeout
from backend.llm.base import Generation, Prompt, Source, Turn, Usage
from backend.llm.config import EXTRACTIVE, ChainStep, ChatSettings
from backend.llm.fallback import FallbackStream
from backend.llm.prompting import pack, system_message
from backend.llm.registry import ProviderRegistry
from backend.notify import webhooks
from backend.retrieval.confidence import ConfidenceModel
from backend.retrieval.config import RetrievalSettings
from backend.retrieval.lane import SearchLane
from backend.retrieval.passages import Passage, SearchResult
from backend.retrieval.search import Retriever
from backend.telemetry import Telemetry
from backend.vectorstore.base import SearchFilters

log = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 4000
HISTORY_TURNS = 8


def source_of(index: int, passage: Passage, answer_weight: float | None) -> Source:
    """The passage as the answerer's ``[index]``, with the sentence scores retrieval computed and the
    ``answer_weight`` its sentences are weighed by (None: by their cosine alone)."""
    sentences = tuple((s.text, s.cosine) for s in passage.sentences)
    return Source(index, passage.title, passage.text, sentences, answer_weight)


@dataclass(frozen=True, slots=True)
class ChatInput:
    """A visitor's message and what shapes its answer: the one argument of ``stream`` and ``answer``."""

    kb_id: str
    message: str
    conversation_id: str | None = None
    """None: a new conversation."""
    config: RetrievalSettings | None = None
    """The knowledge base's search settings (None: the defaults)."""
    chat: ChatSettings | None = None
    filters: SearchFilters | None = None
    history: list[Turn] | None = None
    """Earlier turns when the caller keeps them (the OpenAI-compatible route); None: the stored ones."""
    channel: str = "api"
    visitor_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Turn:
    kb_id: str
    conversation_id: str
    message_id: str
    """The user's message of this turn."""
    history: list[Turn]
    handoff: bool
    """A person handles the conversation: the message was stored and forwarded, not answered."""


@dataclass(slots=True)
class ChatAnswer:
    answer: str
    citations: list[dict[str, Any]]
    conversation_id: str
    message_id: str
    provider: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    model: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    handoff: bool = False
    confidence: float | None = None
    """The best passage's calibrated confidence (None: nothing retrieved)."""


class ChatService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        retriever: Retriever,
        providers: ProviderRegistry,
        *,
        default_chain: list[ChainStep],
        top_k: int = 5,
        min_score: float | None = None,
        min_confidence: float | None = None,
        telemetry: Telemetry | None = None,
        lane: SearchLane | None = None,
    ) -> None:
        """``min_score``: an optional dense-cosine floor; ``min_confidence``: the service-wide answer cut
        (None: each confidence model's calibrated threshold); ``lane``: where the retrieval runs (the
        process's search lane, shared with the search route)."""
        self.sessions, self.retriever, self.providers = sessions, retriever, providers
        self.lane = lane or SearchLane()
        self.default_chain, self.top_k = default_chain, top_k
        self.min_score, self.min_confidence = min_score, min_confidence
        self.telemetry = telemetry or Telemetry()

    def _start_turn(
        self,
        kb_id: str,
        message: str,
        conversation_id: str | None,
        given: list[Turn] | None = None,
        channel: str = "api",
        visitor_id: str | None = None,
    ) -> _Turn:
        with self.sessions.begin() as session:
            if conversation_id is None:
                conversation = Conversation(kb_id=kb_id, channel=channel, visitor_id=visitor_id)
                session.add(conversation)
                session.flush()
            else:
                conversation = conversations.reachable(
                    session,
                    kb_id=kb_id,
                    conversation_id=conversation_id,
                    channel=channel,
                    visitor_id=visitor_id,
                )
            history = session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.created_at.desc())
                .limit(HISTORY_TURNS)
            ).all()
            if given is not None:  # the client keeps the conversation (OpenAI-style): store it as sent
                for turn in given:
                    session.add(
                        Message(
                            conversation_id=conversation.id, kb_id=kb_id, role=turn.role, content=turn.content
                        )
                    )
                    session.flush()
            asked = Message(conversation_id=conversation.id, kb_id=kb_id, role="user", content=message)
            session.add(asked)
            session.flush()
            if conversation.handoff_at is not None:  # a person has it: forward, do not answer
                webhooks.announce(
                    session,
                    kb_id,
                    "conversation.message",
                    {"conversation_id": conversation.id, "message": conversations.message_view(asked)},
                )
            turns = (
                given[-HISTORY_TURNS:]
                if given is not None
                else [Turn("user" if m.role == "user" else "assistant", m.content) for m in reversed(history)]
            )
            return _Turn(kb_id, conversation.id, asked.id, turns, conversation.handoff_at is not None)

    def _finish_turn(
        self,
        turn: _Turn,
        answer: str,
        citations: list[dict[str, Any]],
        meta: dict[str, Any],
        result: SearchResult,
        grounded: bool,
    ) -> str:
        with self.sessions.begin() as session:
            reply = Message(
                conversation_id=turn.conversation_id,
                kb_id=turn.kb_id,
                role="assistant",
                content=answer,
                citations=citations,
                meta=meta,
                reply_to=turn.message_id,
                relevance=max((p.relevance for p in result.passages), default=None),
                grounded=grounded,
                confidence=result.confidence,
            )
            session.add(reply)
            session.flush()
            for document_id in dict.fromkeys(c["document_id"] for c in citations if c.get("document_id")):
                session.add(Citation(message_id=reply.id, document_id=document_id, kb_id=turn.kb_id))
            if result.query_vector is not None:  # kept for analytics: questions grouped by meaning
                session.add(
                    QuestionVector(
                        message_id=turn.message_id,
                        model_id=result.model_id,
                        vector=np.asarray(result.query_vector, dtype=np.float16).tobytes(),
                    )
                )
            session.flush()
            return reply.id

    async def stream(self, question: ChatInput) -> AsyncIterator[ChatEvent]:
        """The turn's events. Input errors raise before the first event; provider failures end the
        stream with an ``error`` event (the question stays stored, so a retry keeps the history)."""
        kb_id, filters = question.kb_id, question.filters
        message = question.message.strip()
        if not message:
            raise InvalidInput("message is empty; send the user's question")
        if len(message) > MAX_MESSAGE_CHARS:
            raise InvalidInput(f"message is {len(message)} characters; the limit is {MAX_MESSAGE_CHARS}")
        config, chat = question.config or RetrievalSettings(), question.chat or ChatSettings()
        chain = chat.chain or self.default_chain
        started = time.perf_counter()
        turn = await anyio.to_thread.run_sync(
            self._start_turn,
            kb_id,
            message,
            question.conversation_id,
            question.history,
            question.channel,
            question.visitor_id,
        )
        conversation_id, history = turn.conversation_id, turn.history
        if turn.handoff:
            yield ChatEvent("handoff", {"conversation_id": conversation_id, "message_id": turn.message_id})
            return
        yield ChatEvent(ACCEPTED, {"conversation_id": conversation_id, "message_id": turn.message_id})
        first = chain[0]
        rewriter = None if first.provider == EXTRACTIVE else self.providers.providers[first.provider]
        query = await standalone_query(message, history, rewriter, first.model)
        result = await self.lane.run(
            lambda: self.retriever.search(
                kb_id=kb_id, query=query, top_k=self.top_k, config=config, filters=filters
            )
        )
        passages = self._answerable(result, config)
        retrieved = time.perf_counter()
        prompt = Prompt(
            message,
            [source_of(i, p, p.answer_weight) for i, p in enumerate(passages, start=1)],
            history,
            system_message(chat.system_prompt, chat.tone),
            scope=kb_id,
        )

        def packer(context_tokens: int) -> tuple[Prompt, Generation]:
            packed, messages = pack(
                prompt, context_tokens=context_tokens, max_output_tokens=chat.max_output_tokens
            )
            return packed, Generation(messages, packed, "", chat.temperature, chat.max_output_tokens)

        run = FallbackStream(self.providers, chain, packer)
        pieces: list[str] = []
        usage = Usage()
        first_token: float | None = None
        try:
            async for delta in run:
                if delta.usage:
                    usage = delta.usage
                if delta.text:
                    first_token = first_token or time.perf_counter()
                    pieces.append(delta.text)
                    yield ChatEvent("token", {"text": delta.text})
        except UpstreamError as exc:
            self.telemetry.chat_failed(run.failures)
            log.error("chat kb=%s: every provider failed: %s", kb_id, exc.message)
            yield ChatEvent("error", {"code": exc.code, "message": exc.message, "fallbacks": run.failures})
            return
        answer = "".join(pieces).strip()
        given = passages[: len(run.prompt.sources)] if run.prompt else []  # only what the model saw
        citations = citations_for(answer, given)
        yield ChatEvent("citations", {"citations": citations})
        done = time.perf_counter()
        step = run.answered_by
        timings = {
            "retrieval": round((retrieved - started) * 1000, 1),
            "first_token": round(((first_token or done) - started) * 1000, 1),
            "total": round((done - started) * 1000, 1),
        }
        meta = {
            "provider": step.provider if step else "",
            "model": step.model if step else "",
            "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
            "timings_ms": timings,
            "fallbacks": run.failures,
            "search_query": query,
            "confidence": None if result.confidence is None else round(result.confidence, 4),
        }
        message_id = await anyio.to_thread.run_sync(
            self._finish_turn, turn, answer, citations, meta, result, bool(passages)
        )
        self.telemetry.chat_answered(
            step.provider if step else "",
            answered=bool(passages),
            first_token_s=(first_token or done) - started,
            total_s=done - started,
            usage=(usage.input_tokens, usage.output_tokens),
            failures=run.failures,
        )
        log.info(
            "chat kb=%s conversation=%s provider=%s confidence=%s passages=%d/%d cited=%d in %.0fms",
            kb_id,
            conversation_id,
            meta["provider"],
            meta["confidence"],
            len(given),
            len(result.passages),
            len(citations),
            timings["total"],
        )
        yield ChatEvent("done", {"conversation_id": conversation_id, "message_id": message_id, **meta})

    def answer_cut(self, calibration: ConfidenceModel, config: RetrievalSettings) -> float:
        """The confidence a passage needs for chat to answer from it: the request's or knowledge base's
        ``min_confidence``, else the service's, else the model's calibrated threshold."""
        return next(
            c for c in (config.min_confidence, self.min_confidence, calibration.threshold) if c is not None
        )

    def _answerable(self, result: SearchResult, config: RetrievalSettings) -> list[Passage]:
        """The passages the answer may use: those whose confidence clears :meth:`answer_cut` and, when
        an operator set one, the cosine floor ``min_score``."""
        if result.calibration is None:
            return []
        cut = self.answer_cut(result.calibration, config)
        floor = self.min_score if self.min_score is not None else -1.0
        return [p for p in result.passages if (p.confidence or 0.0) >= cut and p.relevance >= floor]

    async def answer(self, question: ChatInput) -> ChatAnswer:
        """The stream, collected: streamed and non-streamed answers cannot differ."""
        text: list[str] = []
        citations: list[dict[str, Any]] = []
        done: dict[str, Any] = {}
        async for event in self.stream(question):
            if event.type == "token":
                text.append(event.data["text"])
            elif event.type == "citations":
                citations = event.data["citations"]
            elif event.type == "done":
                done = event.data
            elif event.type == "handoff":
                data = event.data
                return ChatAnswer("", [], data["conversation_id"], data["message_id"], "human", handoff=True)
            elif event.type == "error":
                if event.data["code"] == UpstreamTimeout.code:
                    raise UpstreamTimeout(event.data["message"])
                raise UpstreamError(event.data["message"])
        return ChatAnswer(
            "".join(text).strip(),
            citations,
            done["conversation_id"],
            done["message_id"],
            done["provider"],
            done["timings_ms"],
            done["model"],
            done["usage"],
            done["fallbacks"],
            confidence=done.get("confidence"),
        )


__all__ = ["ChatAnswer", "ChatService", "Passage", "source_of"]
