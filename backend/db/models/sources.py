"""Connected sources that stay in sync (sites, sitemaps, repositories): their items and sync runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.models.base import Base, UTCDateTime, new_id, utcnow


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
