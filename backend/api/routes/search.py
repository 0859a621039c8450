"""/v1/knowledge-bases/{kb_id}/search and /chat: what a chat widget or a script calls."""

from __future__ import annotations

import anyio
from fastapi import APIRouter

from backend.api.deps import ServicesDep
from backend.api.schemas import ChatRequest, ChatResponse, PassagePublic, SearchRequest, SearchResponse
from backend.catalog import knowledge_bases as kbs
from backend.retrieval.config import RetrievalSettings
from backend.services import Services

router = APIRouter(prefix="/knowledge-bases/{kb_id}", tags=["search and chat"])


def kb_settings(services: Services, kb_id: str) -> RetrievalSettings:
    """The knowledge base's retrieval settings; 404 if it does not exist."""
    with services.sessions() as session:
        return kbs.retrieval_settings(kbs.get(session, kb_id))


@router.post("/search", response_model=SearchResponse)
def search(kb_id: str, body: SearchRequest, services: ServicesDep) -> SearchResponse:
    overrides = body.model_dump(include={"mode", "min_relevance", "neighbours"}, exclude_none=True)
    config = kb_settings(services, kb_id).with_(**overrides)
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
    )


@router.post("/chat", response_model=ChatResponse)
async def chat(kb_id: str, body: ChatRequest, services: ServicesDep) -> ChatResponse:
    config = await anyio.to_thread.run_sync(kb_settings, services, kb_id)
    answer = await services.chat.answer(
        kb_id=kb_id,
        message=body.message,
        conversation_id=body.conversation_id,
        config=config,
        filters=body.filters.to_search_filters() if body.filters else None,
    )
    return ChatResponse(
        answer=answer.answer,
        citations=answer.citations,
        conversation_id=answer.conversation_id,
        message_id=answer.message_id,
        provider=answer.provider,
        timings_ms=answer.timings_ms,
    )
