"""SQLAlchemy 2 models: knowledge bases, documents (and their raw content), jobs, conversations.

Portable on purpose: string UUID keys, JSON columns, and a UTC datetime type that comes back
timezone-aware from SQLite too, so lease arithmetic is identical on both databases.
Schema changes go through Alembic (backend/db/migrations); never ``create_all`` in production.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always returns an aware datetime (SQLite drops tzinfo on the way in)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use backend.db.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class DocumentStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native PG enum) so adding a state is a code change, not a migration.
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class KnowledgeBase(Base):
    __tablename__ = "knowledge_bases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    retrieval: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    """Overrides of backend.retrieval.config.RetrievalSettings (mode, fusion weights, thresholds)."""
    chat: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    """Overrides of backend.llm.config.ChatSettings (provider chain, temperature, system prompt, tone)."""
    widget: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    """Overrides of backend.catalog.widget.WidgetSettings (allowed origins, look, limits)."""
    identity_secret: Mapped[str | None] = mapped_column(String(100))
    """HMAC key the customer's backend signs visitor tokens with (backend/catalog/identity.py)."""
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    """HMAC key webhook deliveries are signed with (backend/notify/delivery.py)."""
    encoder_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("encoder_versions.id", ondelete="RESTRICT", use_alter=True), index=True
    )
    """The encoder that embeds and searches this knowledge base (None: the configured base model).
    Changed only by an activation job, after the knowledge base's points are in that encoder's collection
    (backend/serving/router.py reads it; finetune/rollout.py writes it)."""
    keywords: Mapped[str | None] = mapped_column(String(16))
    """The keyword analysis its sparse vectors were made with (backend/keywords; None: "en1", the first
    releases'). Set to the current one at creation (backend/catalog/knowledge_bases.py); with the encoder it
    names the collection and, like it, changes only by an activation."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    documents: Mapped[list[Document]] = relationship(
        back_populates="knowledge_base", cascade="all, delete-orphan", passive_deletes=True
    )
    encoder_version: Mapped[EncoderVersion | None] = relationship(
        foreign_keys=[encoder_version_id], lazy="selectin", viewonly=True
    )


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_kb_hash", "kb_id", "content_hash"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(2000), default="")
    filename: Mapped[str | None] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    status: Mapped[DocumentStatus] = mapped_column(_enum(DocumentStatus), default=DocumentStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    knowledge_base: Mapped[KnowledgeBase] = relationship(back_populates="documents")

    @property
    def tags(self) -> list[str]:
        """The tags it was uploaded with (kept in ``meta``; its passages carry them for filters)."""
        return list((self.meta or {}).get("tags") or [])

    @property
    def near_duplicate_of(self) -> dict[str, Any] | None:
        """The closest near-duplicate found when it was ingested: ``{document_id, title, similarity}``."""
        found: dict[str, Any] | None = (self.meta or {}).get("near_duplicate_of")
        return found


class DocumentFingerprint(Base):
    """What near-duplicate detection compares (backend/text/fingerprint.py): the mean of the document's
    chunk vectors under one encoder, and the MinHash of its word 3-grams with their count."""

    __tablename__ = "document_fingerprints"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String(500))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    minhash: Mapped[bytes] = mapped_column(LargeBinary)
    shingles: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DocumentContent(Base):
    """The uploaded bytes, kept in the database so a worker on another host can always read them
    and a crash between upload and ingestion loses nothing. Separate table: listings never load it."""

    __tablename__ = "document_contents"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "run_after"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(50))
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.QUEUED)
    kb_id: Mapped[str | None] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    document_id: Mapped[str | None] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    stage: Mapped[str | None] = mapped_column(String(50))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    """Where it happens: "api" (a customer's backend or the admin) or "widget" (a web page)."""
    visitor_id: Mapped[str | None] = mapped_column(String(200), index=True)
    """The verified visitor (a signed identity token's subject); None for anonymous visitors."""
    handoff_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Set while a person handles the conversation: automatic answers stop until it is released."""
    handoff_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.created_at", cascade="all, delete-orphan"
    )


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_kb_role_created", "kb_id", "role", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    kb_id: Mapped[str | None] = mapped_column(String(36))
    """The conversation's knowledge base, repeated so analytics scan one index, not a join."""
    role: Mapped[str] = mapped_column(String(20))  # "user" | "assistant" | "agent" (a person)
    content: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    """Assistant turns: provider, model, usage, timings, fallbacks, the search query used."""
    reply_to: Mapped[str | None] = mapped_column(String(36), index=True)
    """Assistant turns: the user message answered."""
    relevance: Mapped[float | None] = mapped_column(Float)
    """Assistant turns: the best passage's dense cosine (None: nothing was retrieved at all)."""
    grounded: Mapped[bool | None] = mapped_column()
    """Assistant turns: at least one passage cleared the confidence gate."""
    confidence: Mapped[float | None] = mapped_column(Float)
    """Assistant turns: the calibrated probability that the best passage answers the question
    (backend/retrieval/confidence.py); None for turns stored before it existed."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class QuestionVector(Base):
    """A question's embedding, kept from the search that answered it, so analytics can group
    questions by meaning without re-encoding them. ``model_id`` says which encoder made it."""

    __tablename__ = "question_vectors"

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(500))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    """float16, L2-normalised."""


class Citation(Base):
    """A document an answer cited: source usage reports are one indexed GROUP BY over these rows.
    No foreign key to documents, so a deleted document's history still counts."""

    __tablename__ = "citations"
    __table_args__ = (Index("ix_citations_kb_created", "kb_id", "created_at"),)

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kb_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lead(Base):
    """A visitor who left their contact details in the widget."""

    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_kb_created", "kb_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    visitor_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feedback(Base):
    """A reader's verdict on an answer: analytics, and positive pairs for fine-tuning."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    rating: Mapped[str] = mapped_column(String(8))  # "up" | "down"
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EncoderVersionStatus(enum.StrEnum):
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


class EncoderVersion(Base):
    """A fine-tuned encoder: where its weights are, what it was trained on and how it measured.

    A version belongs to the knowledge base it was trained for (``kb_id``); only that knowledge base
    can activate it, unless an operator ``shared`` it. Each knowledge base points at the version that
    serves it (``KnowledgeBase.encoder_version_id``). ``active`` marks the service-wide default that new
    knowledge bases start on (set by "activate for every knowledge base"; none: the base model).
    Versions are never deleted automatically, so a rollback is an activation of an earlier one.
    """

    __tablename__ = "encoder_versions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    base_model: Mapped[str] = mapped_column(String(500))
    """The model id it was trained from (an encoder's ``model_id``)."""
    path: Mapped[str] = mapped_column(String(2000))
    """A plain sentence-transformers folder: relative to the shared artifact directory
    (``KBCHAT_ARTIFACTS_DIR``) so every process finds it wherever the volume is mounted; absolute for
    versions registered before that setting existed."""
    model_id: Mapped[str | None] = mapped_column(String(500))
    """The identity of its vectors (names its collection). None: registered before this column, the
    id is derived from the folder as it was then (backend/encoder/sentence_transformer.model_id_of)."""
    status: Mapped[EncoderVersionStatus] = mapped_column(
        _enum(EncoderVersionStatus), default=EncoderVersionStatus.READY, server_default="ready"
    )
    shared: Mapped[bool] = mapped_column(default=False, server_default=false())
    """An operator allowed knowledge bases other than its owner to activate it."""
    relevance_threshold: Mapped[float | None] = mapped_column(Float)
    """Dense cosine under which a passage counts as unrelated, measured on the held-out split when
    trained (None: the configured default, tuned for the base model)."""
    kb_id: Mapped[str | None] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="SET NULL"), index=True
    )
    data_hash: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    promoted: Mapped[bool] = mapped_column(default=False)
    """It beat the encoder that served its knowledge base when it was trained, on held-out pairs
    and the guard set."""
    active: Mapped[bool] = mapped_column(default=False)
    """The default for new knowledge bases (at most one)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """A key scoped to one knowledge base. Only its SHA-256 is stored; the key is shown once.

    ``secret`` keys are for a customer's backend (scopes from read/search/chat/write/manage);
    ``widget`` keys are public by design (they sit in a web page), so they only chat with their
    knowledge base, from the origins listed on it, under rate limits.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # "secret" | "widget"
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the key, to recognise it in a list."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WidgetUsage(Base):
    """Messages the widget of a knowledge base answered on one UTC day (for its daily budget)."""

    __tablename__ = "widget_usage"

    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)


class Source(Base):
    """Where a knowledge base's documents come from and stay in sync with: a page, a sitemap, a crawl
    of a site section, a Git repository's docs (``kind`` names the connector, backend/connectors)."""

    __tablename__ = "sources"
    __table_args__ = (Index("ix_sources_due", "next_sync_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    url: Mapped[str] = mapped_column(String(2000))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The connector's own settings, validated by its schema (a crawl's depth, a repository's folders)."""
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    schedule_s: Mapped[int | None] = mapped_column(Integer)
    """Seconds between syncs; None: only when asked (``POST …/sources/{id}/sync``)."""
    remove_after_s: Mapped[int] = mapped_column(Integer, default=0)
    """How long a page may be missing from the source before its document is removed."""
    next_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the scheduler queues the next sync (claimed atomically, so two workers never both do)."""
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str] = mapped_column(String(16), default="never")
    """never | running | ok | partial (some items failed) | failed."""
    last_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    last_error: Mapped[str | None] = mapped_column(Text)
    sync_job_id: Mapped[str | None] = mapped_column(String(36))
    """The latest sync job; a new one is queued only once it has finished (compare-and-set), so a
    source is never synced twice at once, and a crashed sync never blocks the next."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SourceItem(Base):
    """One page or file of a source as last synced: the change tokens that make the next sync cheap
    (ETag, Last-Modified, a sitemap's lastmod, a Git blob id) and the document it became."""

    __tablename__ = "source_items"

    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of ``key``: a fixed-size primary key (a 2,000-character URL would not fit a B-tree entry)."""
    key: Mapped[str] = mapped_column(String(2000))
    """The item's identity in its source: a page URL, a file path."""
    document_id: Mapped[str | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True
    )
    owned: Mapped[bool] = mapped_column(default=False, server_default=false())
    """True when the document is this source's own (made or replaced by its sync, under its source
    name), not one with the same bytes that was already there (an upload): only an owned document is
    deleted with the item."""
    change_token: Mapped[str | None] = mapped_column(String(200))
    etag: Mapped[str | None] = mapped_column(String(200))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What a connector keeps between syncs (a crawled page's links, so an unchanged page need not be
    read again to find its children)."""
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    missing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class SourceSync(Base):
    """One sync of a source: its counts and the items that failed, for the source's history."""

    __tablename__ = "source_syncs"
    __table_args__ = (Index("ix_source_syncs_source_started", "source_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="running")
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    """``[{key, error, transient}]``, at most MAX_SYNC_ERRORS of them (the count says how many)."""
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
