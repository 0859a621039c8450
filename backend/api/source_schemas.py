"""Request and response bodies of /v1/knowledge-bases/{kb_id}/sources and /v1/connectors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from backend.api.schemas import JobPublic, _In, _Out

Duration = int | str | None
DURATION_HELP = "Seconds, or a duration: '30m', '6h', '1d', '1w'."


class SourceCreate(_In):
    kind: str = Field(min_length=1, max_length=50, description="A connector: page, sitemap, crawl, git, …")
    url: str = Field(min_length=1, max_length=2000)
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The connector's own (GET /v1/connectors)."
    )
    tags: list[str] = Field(default_factory=list, max_length=32, description="Given to every document.")
    schedule: Duration = Field(
        default=None, description=f"How often to sync; empty: on request. {DURATION_HELP}"
    )
    remove_after: Duration = Field(
        default=None,
        description="How long a page may be missing before its document is removed (default "
        f"KBCHAT_SOURCES__REMOVE_AFTER_S). {DURATION_HELP}",
    )
    sync: bool = Field(default=True, description="Queue the first sync now.")


class SourceUpdate(_In):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    settings: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=32)
    schedule: Duration = None
    remove_after: Duration = None


class SourcePublic(_Out):
    id: str
    kb_id: str
    kind: str
    url: str
    settings: dict[str, Any]
    tags: list[str]
    schedule_s: int | None
    remove_after_s: int
    next_sync_at: datetime | None
    last_sync_at: datetime | None
    last_status: str
    last_counts: dict[str, int]
    last_error: str | None
    sync_job_id: str | None
    documents: int = 0
    created_at: datetime
    updated_at: datetime


class SourceCreated(SourcePublic):
    job: JobPublic | None = None


class SourcesPublic(_Out):
    data: list[SourcePublic]


class SyncPublic(_Out):
    id: str
    job_id: str | None
    status: str
    counts: dict[str, int]
    errors: list[dict[str, Any]]
    started_at: datetime
    finished_at: datetime | None


class SyncsPublic(_Out):
    data: list[SyncPublic]


class SyncQueued(_Out):
    job: JobPublic
    queued_now: bool = Field(description="False: a sync was already queued or running; this is that one.")


class ConnectorPublic(_Out):
    kind: str
    description: str
    settings_schema: dict[str, Any]


class ConnectorsPublic(_Out):
    data: list[ConnectorPublic]
