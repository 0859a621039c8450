"""/v1/knowledge-bases/{kb_id}/search, /chat and message feedback: what a chat widget calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse

from backend.api.deps import ServicesDep
from backend.api.schemas import (
    ChatRequest,
    ChatResponse,
    CitationPublic,
    FeedbackCreate,
    FeedbackPublic,
    PassagePublic,
    SearchRequest,
    SearchResponse,
)
from backend.api.sse import with_keepalive
from backend.catalog import knowledge_bases as kbs
from backend.chat import feedback
from backend.chat.events import ACCEPTED, ChatEvent
from backend.chat.service import ChatInput
from backend.llm.config import ChatSettings
from backend.retrieval.config import RetrievalSettings
from backend.services import Services

router = APIRouter(prefix="/knowledge-bases/{kb_id}", tags=["search and chat"])


def kb_settings(services: Services, kb_id: str) -> tuple[RetrievalSettings, ChatSettings]:
    """The knowledge base's retrieval and chat settings; 404 if it does not exist."""
    with services.reads() as session:
        return kbs.search_settings(session, kb_id)


@router.post("/search", response_model=SearchResponse)
async def search(kb_id: str, body: SearchRequest, services: ServicesDep) -> SearchResponse:
    # One hop to a thread for the settings read and the search, in the process's search lane.
    return await services.search_lane.run(_search, services, kb_id, body)


def _search(services: Services, kb_id: str, body: SearchRequest) -> SearchResponse:
    overrides = body.model_dump(
        include={"mode", "min_relevance", "min_confidence", "neighbours"}, exclude_none=True
    )
    stored = kb_settings(services, kb_id)[0]
    config = stored.with_(**overrides)
    result = services.retriever.search(
        kb_id=kb_id,
        query=body.query,
        top_k=body.top_k,
        config=config,
        filters=body.filters.to_search_filters() if body.filters else None,
    )
    return SearchResponse(
        results=[PassagePublic.model_validate(p) for p in result.passages],
        mode=result.mode,
        took_ms=result.took_ms,
        timings_ms=result.timings_ms,
        answer_cut=services.chat.answer_cut(result.calibration, stored) if result.calibration else None,
    )


async def _sse(first: ChatEvent, rest: AsyncIterator[ChatEvent]) -> AsyncIterator[str]:
    if first.type != ACCEPTED:
        yield first.sse()
    async for event in rest:
        yield event.sse()


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream is true"}
    },
)
async def chat(kb_id: str, body: ChatRequest, services: ServicesDep) -> ChatResponse | StreamingResponse:
    return await run_chat(services, kb_id, body)


async def run_chat(
    services: Services,
    kb_id: str,
    body: ChatRequest,
    *,
    channel: str = "api",
    visitor_id: str | None = None,
) -> ChatResponse | StreamingResponse:
    """A chat turn, answered as JSON or streamed as SSE (shared by the API and the widget)."""
    config, chat_settings = await anyio.to_thread.run_sync(kb_settings, services, kb_id)
    question = ChatInput(
        kb_id,
        body.message,
        body.conversation_id,
        config,
        chat_settings,
        filters=body.filters.to_search_filters() if body.filters else None,
        channel=channel,
        visitor_id=visitor_id,
    )
    if body.stream:
        events = services.chat.stream(question)
        # Pull the first event before answering: bad input or an unknown conversation is still a
        # proper 4xx, not an error inside a 200 stream. A client that disconnects cancels the rest.
        first = await anext(events)
        return StreamingResponse(
            with_keepalive(_sse(first, events), services.settings.chat.keepalive_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = await services.chat.answer(question)
    return ChatResponse(
        answer=answer.answer,
        citations=[CitationPublic.model_validate(c) for c in answer.citations],
        conversation_id=answer.conversation_id,
        message_id=answer.message_id,
        provider=answer.provider,
        model=answer.model,
        usage=answer.usage,
        timings_ms=answer.timings_ms,
        fallbacks=answer.fallbacks,
        handoff=answer.handoff,
        confidence=answer.confidence,
    )


@router.post(
    "/messages/{message_id}/feedback", status_code=status.HTTP_201_CREATED, response_model=FeedbackPublic
)
def give_feedback(kb_id: str, message_id: str, body: FeedbackCreate, services: ServicesDep) -> FeedbackPublic:
    """Thumbs up or down on an answer (kept for analytics and as fine-tuning pairs)."""
    with services.sessions.begin() as session:
        record = feedback.record(
            session, kb_id=kb_id, message_id=message_id, rating=body.rating, comment=body.comment
        )
        return FeedbackPublic.model_validate(record)
