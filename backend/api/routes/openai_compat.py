"""``POST /v1/chat/completions``: any OpenAI client library can use a knowledge base as a "model".

``model`` names a knowledge base (its name or id). The last user message is the question, earlier
messages are the history (the client keeps the conversation, as with OpenAI), and a client's system
message is added to the knowledge base's own instructions. The answer carries its ``citations`` in an
extra field, in the final chunk when streamed.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy import or_, select

from backend.api.deps import ServicesDep
from backend.api.openai_schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    CompletionChoice,
    CompletionMessage,
    CompletionUsage,
)
from backend.api.schemas import CitationPublic
from backend.api.sse import with_keepalive
from backend.chat.events import ChatEvent
from backend.chat.service import ChatInput
from backend.db.models import KnowledgeBase
from backend.errors import InvalidInput, NotFound
from backend.llm.base import Turn
from backend.llm.config import ChatSettings
from backend.retrieval.config import RetrievalSettings
from backend.services import Services

router = APIRouter(tags=["OpenAI-compatible"])


def _resolve(services: Services, model: str) -> tuple[str, str, RetrievalSettings, ChatSettings]:
    from backend.catalog import knowledge_bases as kbs

    with services.reads() as session:  # no write lock: searches wait on none
        kb = session.scalar(
            select(KnowledgeBase).where(or_(KnowledgeBase.name == model, KnowledgeBase.id == model))
        )
        if kb is None:
            raise NotFound(
                f"model {model!r} is not a knowledge base; GET /v1/knowledge-bases lists the names"
            )
        return kb.id, kb.name, kbs.retrieval_settings(kb), kbs.chat_settings(kb)


def _chunk(
    cid: str, model: str, created: int, delta: dict[str, Any], finish: str | None = None, **extra: Any
) -> str:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream is true"}
    },
)
async def chat_completions(
    body: ChatCompletionRequest, services: ServicesDep
) -> ChatCompletion | StreamingResponse:
    kb_id, name, config, chat = await anyio.to_thread.run_sync(_resolve, services, body.model)
    turns = [m for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user" or not turns[-1].text.strip():
        raise InvalidInput("the last message must be the user's question (role 'user', non-empty)")
    system = "\n".join(m.text for m in body.messages if m.role in ("system", "developer") and m.text)
    updates: dict[str, Any] = {}
    if system:
        updates["system_prompt"] = "\n\n".join(p for p in (chat.system_prompt, system) if p)
    if body.temperature is not None:
        updates["temperature"] = body.temperature
    if body.max_tokens is not None:
        updates["max_output_tokens"] = body.max_tokens
    question = ChatInput(
        kb_id,
        turns[-1].text,
        config=config,
        chat=chat.model_copy(update=updates),
        history=[Turn(m.role, m.text) for m in turns[:-1]],
    )
    created = int(time.time())
    if body.stream:
        events = services.chat.stream(question)
        first = await anext(events)  # input errors become a 4xx before the stream starts
        return StreamingResponse(
            with_keepalive(_stream(first, events, name, created), services.settings.chat.keepalive_s),
            media_type="text/event-stream",
        )
    answer = await services.chat.answer(question)
    usage = answer.usage
    return ChatCompletion(
        id=f"chatcmpl-{answer.message_id}",
        created=created,
        model=name,
        choices=[CompletionChoice(message=CompletionMessage(content=answer.answer))],
        usage=CompletionUsage(
            prompt_tokens=usage.get("input_tokens", 0),
            completion_tokens=usage.get("output_tokens", 0),
            total_tokens=usage.get("input_tokens", 0) + usage.get("output_tokens", 0),
        ),
        citations=[CitationPublic.model_validate(c) for c in answer.citations],
        conversation_id=answer.conversation_id,
        confidence=answer.confidence,
    )


async def _stream(
    first: ChatEvent, rest: AsyncIterator[ChatEvent], model: str, created: int
) -> AsyncIterator[str]:
    cid = f"chatcmpl-{int(time.time() * 1000)}"
    yield _chunk(cid, model, created, {"role": "assistant", "content": ""})
    citations: list[Any] = []

    async def events() -> AsyncIterator[ChatEvent]:
        yield first
        async for event in rest:
            yield event

    async for event in events():
        if event.type == "token":
            yield _chunk(cid, model, created, {"content": event.data["text"]})
        elif event.type == "citations":
            citations = event.data["citations"]
        elif event.type == "done":
            yield _chunk(
                cid,
                model,
                created,
                {},
                "stop",
                citations=citations,
                conversation_id=event.data["conversation_id"],
                confidence=event.data.get("confidence"),
            )
        elif event.type == "error":
            error = {"error": {"message": event.data["message"], "code": event.data["code"]}}
            yield f"data: {json.dumps(error)}\n\n"
    yield "data: [DONE]\n\n"
