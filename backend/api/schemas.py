"""Request and response bodies: ``XCreate`` in, ``XPublic`` / ``XsPublic`` out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.vectorstore.base import SearchMode


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class KnowledgeBaseCreate(_In):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)


class KnowledgeBasePublic(_Out):
    id: str
    name: str
    description: str
    document_count: int = 0
    created_at: datetime


class KnowledgeBasesPublic(BaseModel):
    data: list[KnowledgeBasePublic]
    count: int


class JobPublic(_Out):
    id: str
    kind: str
    status: str
    stage: str | None
    progress: float
    attempts: int
    max_attempts: int
    error: str | None
    kb_id: str | None
    document_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class DocumentTextCreate(_In):
    text: str = Field(min_length=1)
    title: str = Field(min_length=1, max_length=500)
    source: str | None = Field(default=None, max_length=2000)
    format: Literal["text", "markdown", "html"] = "text"


class DocumentPublic(_Out):
    id: str
    kb_id: str
    title: str
    source: str
    filename: str | None
    content_type: str
    size_bytes: int
    status: str
    error: str | None
    chunk_count: int
    created_at: datetime
    updated_at: datetime


class DocumentDetail(DocumentPublic):
    job: JobPublic | None = None


class DocumentsPublic(BaseModel):
    data: list[DocumentPublic]
    count: int


class UploadItem(BaseModel):
    document_id: str
    job_id: str | None
    filename: str | None
    status: str
    unchanged: bool = Field(description="Identical content was already in this knowledge base; no new work.")


class UploadAccepted(BaseModel):
    documents: list[UploadItem]


class SearchRequest(_In):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=5, ge=1, le=100)
    mode: SearchMode = SearchMode.DENSE
    document_ids: list[str] | None = Field(default=None, max_length=1000)


class PassagePublic(_Out):
    id: str
    text: str
    score: float = Field(description="Ranking score of the mode: cosine, BM25, or fused rank (hybrid).")
    relevance: float = Field(
        description="Dense cosine to the query in every mode; comparable across queries."
    )
    document_id: str
    title: str
    source: str
    heading: list[str]
    chunk_index: int
    char_start: int
    char_end: int


class SearchResponse(BaseModel):
    results: list[PassagePublic]
    mode: SearchMode
    took_ms: float


class ChatRequest(_In):
    message: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = None


class ChatResponse(BaseModel):
    answer: str
    citations: list[dict[str, Any]]
    conversation_id: str
    message_id: str
    provider: str
    timings_ms: dict[str, float]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}
