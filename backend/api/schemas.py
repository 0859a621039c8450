"""Request and response bodies: ``XCreate`` in, ``XPublic`` / ``XsPublic`` out."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.api.encoder_schemas import KbEncoderPublic
from backend.api.window import bounded
from backend.catalog.tuning import NO_ANSWERABLE_PAIRS, Pair
from backend.catalog.widget import WidgetSettings
from backend.llm.config import ChainStep, ChatSettings
from backend.retrieval.config import RetrievalSettings
from backend.vectorstore.base import SearchFilters, SearchMode


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class KnowledgeBaseCreate(_In):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    retrieval: RetrievalSettings | None = None
    chat: ChatSettings | None = None


class RetrievalPatch(_In):
    """Any subset of the retrieval settings; the rest keep their values."""

    mode: SearchMode | None = None
    fusion: Literal["convex", "rrf"] | None = None
    alpha: float | None = None
    fusion_k: int | None = None
    dense_weight: float | None = None
    sparse_weight: float | None = None
    min_relevance: float | None = None
    min_confidence: float | None = None
    collapse_threshold: float | None = None
    neighbours: int | None = None


class ChatPatch(_In):
    """Any subset of the chat settings; the rest keep their values."""

    chain: list[ChainStep] | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    system_prompt: str | None = None
    tone: str | None = None
    assistant_name: str | None = None


class KnowledgeBaseUpdate(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200, description="Rename (the id stays).")
    description: str | None = Field(default=None, max_length=2000)
    retrieval: RetrievalPatch | None = None
    chat: ChatPatch | None = None
    widget: dict[str, Any] | None = Field(
        default=None,
        description="Any subset of the widget settings (allowed_origins, assistant_name, greeting, "
        "primary_color, logo_url, tone, messages_per_minute, key_messages_per_minute, daily_budget, "
        "max_message_chars); validated whole.",
    )


class KnowledgeBasePublic(_Out):
    id: str
    name: str
    description: str
    document_count: int = 0
    retrieval: RetrievalSettings = Field(description="The effective settings: stored overrides on defaults.")
    chat: ChatSettings
    widget: WidgetSettings
    encoder: KbEncoderPublic = Field(
        default_factory=lambda: KbEncoderPublic(version="base"),
        description="The encoder that embeds and searches it; change it with POST …/encoder.",
    )
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
    result: dict[str, Any] | None = Field(default=None, description="What the job produced (tuning reports).")

    @classmethod
    def of(cls, job: Any) -> JobPublic:
        return cls.model_validate(job).model_copy(update={"result": (job.payload or {}).get("result")})


class DocumentTextCreate(_In):
    text: str = Field(min_length=1)
    title: str = Field(min_length=1, max_length=500)
    source: str | None = Field(default=None, max_length=2000)
    format: Literal["text", "markdown", "html"] = "text"
    tags: list[str] = Field(default_factory=list, max_length=32)


class UrlCreate(_In):
    url: str = Field(min_length=1, max_length=2000, description="An http(s) page, or a sitemap.xml.")
    sitemap: bool | None = Field(
        default=None, description="Treat the URL as a sitemap. Empty: decided from the fetched content."
    )
    tags: list[str] = Field(default_factory=list, max_length=32)


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
    tags: list[str] = Field(default_factory=list, description="The tags it was uploaded with.")
    near_duplicate_of: dict[str, Any] | None = Field(
        default=None,
        description="The knowledge base's document this one nearly duplicates, found when it was ingested: "
        "{document_id, title, similarity} (GET …/duplicates lists every cluster).",
    )
    stage: str | None = Field(
        default=None,
        description="While queued or processing: its ingestion job's stage (parsing, embedding…).",
    )
    progress: float | None = Field(default=None, description="While queued or processing: 0–1.")
    created_at: datetime
    updated_at: datetime


class DocumentDetail(DocumentPublic):
    job: JobPublic | None = None


class ChunkPublic(BaseModel):
    """A stored passage of a document, as the encoder and keyword search read it."""

    index: int
    text: str
    heading: list[str] = Field(description="The heading path the passage sits under.")
    char_start: int
    char_end: int
    location: dict[str, Any] = Field(description="Page, rows or time range in the source, when it has them.")
    lang: str | None = Field(description="The language its keywords were analysed in.")


class ChunksPublic(BaseModel):
    data: list[ChunkPublic]
    total: int = Field(description="The document's chunk count; page with offset and limit.")


class DocumentsPublic(BaseModel):
    data: list[DocumentPublic]
    count: int


class UploadItem(BaseModel):
    document_id: str
    job_id: str | None
    filename: str | None
    status: str
    unchanged: bool = Field(description="Identical content was already in this knowledge base; no new work.")
    replaced: bool = Field(
        default=False,
        description="A document with the same source existed; this upload is its new version (same id).",
    )


class UploadAccepted(BaseModel):
    documents: list[UploadItem]


class Filters(_In):
    """Executed inside the vector store. All given conditions must hold; lists match any element."""

    document_ids: list[str] | None = Field(default=None, max_length=1000)
    content_types: list[str] | None = Field(default=None, max_length=20, examples=[["text/markdown"]])
    tags: list[str] | None = Field(default=None, max_length=100)
    created_after: datetime | None = None
    created_before: datetime | None = None

    def to_search_filters(self) -> SearchFilters:
        after, before = self.created_after, self.created_before
        return SearchFilters(
            document_ids=self.document_ids,
            content_types=self.content_types,
            tags=self.tags,
            created_after=bounded(after, "filters.created_after").timestamp() if after else None,
            created_before=bounded(before, "filters.created_before").timestamp() if before else None,
        )


class SearchRequest(_In):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=5, ge=1, le=100)
    mode: SearchMode | None = Field(default=None, description="Default: the knowledge base's mode.")
    min_relevance: float | None = Field(
        default=None, ge=-1, le=1, description="Default: the knowledge base's."
    )
    min_confidence: float | None = Field(
        default=None, ge=0, le=1, description="Drop passages under this confidence. Default: the KB's."
    )
    neighbours: int | None = Field(default=None, ge=0, le=3, description="Adjacent chunks added as context.")
    filters: Filters | None = None


class _Where(_Out):
    """Where a passage sits: its document, heading path, chunk and characters in the stored text."""

    document_id: str
    title: str
    source: str
    heading: list[str]
    chunk_index: int
    char_start: int
    char_end: int
    location: dict[str, Any] = Field(description="page/page_end, row/row_end or start_s/end_s, by format.")


class PassagePublic(_Where):
    id: str
    text: str
    score: float = Field(description="Ranking score of the mode: cosine, BM25, or fused rank (hybrid).")
    relevance: float = Field(
        description="Dense cosine to the query in every mode; comparable across queries."
    )
    score_kind: str = Field(
        description="What `score` is: cosine, bm25, convex, rrf or rerank; '+sentence' when the best "
        "sentence re-ranked it (retrieval.sentence_weight)."
    )
    rerank_score: float | None = Field(description="Cross-encoder probability (0–1) when a reranker is on.")
    context_before: str
    context_after: str
    confidence: float | None = Field(
        description="Calibrated probability (0–1) that this passage answers the query: chat's gate."
    )
    evidence: dict[str, float] | None = Field(
        description="What the confidence was computed from: cosine, sentence_cosine, coverage, keyword, "
        "rerank, foreign (the question is in another language than the passage), runners_up (the mean "
        "cosine of the dense search's 2nd to 10th passages: how much of the knowledge base is about "
        "the question) (the weights: "
        "backend/retrieval/confidence_default.json, or the knowledge base's "
        "retrieval.calibration once `tune` refitted them)."
    )

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence(cls, value: Any) -> Any:
        if is_dataclass(value) and not isinstance(value, type):
            return {k: round(v, 4) for k, v in asdict(value).items()}
        return value


class SearchResponse(BaseModel):
    results: list[PassagePublic]
    mode: SearchMode
    took_ms: float
    timings_ms: dict[str, float] = Field(
        default_factory=dict,
        description="Milliseconds per stage: encode, keywords, candidates, rerank, order, confidence, "
        "neighbours.",
    )
    answer_cut: float | None = Field(
        default=None,
        description="The confidence chat needs to answer from a passage, with this knowledge base's "
        "settings (a min_confidence sent with this search does not change it). None: not scored.",
    )


class ChatRequest(_In):
    message: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = None
    filters: Filters | None = None
    stream: bool = Field(
        default=False, description="Answer as Server-Sent Events: token, citations, done | error."
    )


class CitationPublic(_Where):
    """A passage the answer cites as ``[index]`` (only passages the answerer was given)."""

    index: int = Field(description="The n of the answer's [n] marker.")
    passage_id: str
    text: str
    relevance: float = Field(description="Dense cosine of the passage to the question.")


class ChatResponse(BaseModel):
    answer: str
    citations: list[CitationPublic]
    conversation_id: str
    message_id: str
    provider: str
    model: str
    usage: dict[str, int]
    timings_ms: dict[str, float]
    fallbacks: list[dict[str, str]] = Field(description="Providers that failed before one answered.")
    handoff: bool = Field(
        default=False,
        description="A person handles this conversation: the message was stored and forwarded, "
        "no automatic answer is given (message_id is the question's).",
    )
    confidence: float | None = Field(
        default=None,
        description="Calibrated probability that the best passage answers the question; under the "
        "knowledge base's threshold the answer is \"I couldn't find it\".",
    )


class FeedbackCreate(_In):
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackPublic(_Out):
    id: str
    message_id: str
    rating: str
    comment: str | None
    created_at: datetime


class TuneRequest(_In):
    pairs: list[Pair] = Field(min_length=1, max_length=5000)
    apply: bool = Field(
        default=True, description="Store the winning settings when they beat the current ones."
    )

    @model_validator(mode="after")
    def _some_answerable(self) -> TuneRequest:
        if not any(p.answerable for p in self.pairs):
            raise ValueError(NO_ANSWERABLE_PAIRS)
        return self


class TuneAccepted(BaseModel):
    job_id: str


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}
