"""Knowledge bases and their documents: the uploaded bytes, and what near-duplicate detection compares."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db.models.base import Base, UTCDateTime, new_id, string_enum, utcnow

if TYPE_CHECKING:
    from backend.db.models.encoders import EncoderVersion


class DocumentStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


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
    status: Mapped[DocumentStatus] = mapped_column(string_enum(DocumentStatus), default=DocumentStatus.QUEUED)
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
