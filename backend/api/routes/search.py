"""/v1/knowledge-bases/{kb_id}/search and /chat: what a chat widget or a script calls."""

from __future__ import annotations

import anyio
from fastapi import APIRouter

from backend.api.deps import ServicesDep
from backend.api.schemas import ChatRequest, ChatResponse, PassagePublic, SearchRequest, SearchResponse
from backend.catalog import knowledge_bases as kbs

router = APIRouter(prefix="/knowledge-bases/{kb_id}", tags=["search and chat"])


def _check_kb(services: ServicesDep, kb_id: str) -> None:
    with services.sessions() as session:
        kbs.get(session, kb_id)


@router.post("/search", response_model=SearchResponse)
def search(kb_id: str, body: SearchRequest, services: ServicesDep) -> SearchResponse:
    _check_kb(services, kb_id)
    result = services.retriever.search(
        kb_id=kb_id, query=body.query, top_k=body.top_k, mode=body.mode, document_ids=body.document_ids
    )
    return SearchResponse(
        results=[PassagePublic.model_validate(p) for p in result.passages],
        mode=result.mode,
        took_ms=result.took_ms,
    )


@router.post("/chat", response_model=ChatResponse)
async def chat(kb_id: str, body: ChatRequest, services: ServicesDep) -> ChatResponse:
    await anyio.to_thread.run_sync(_check_kb, services, kb_id)
    answer = await services.chat.answer(
        kb_id=kb_id, message=body.message, conversation_id=body.conversation_id
    )
    return ChatResponse(
        answer=answer.answer,
        citations=answer.citations,
        conversation_id=answer.conversation_id,
        message_id=answer.message_id,
        provider=answer.provider,
        timings_ms=answer.timings_ms,
    )
