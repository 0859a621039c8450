"""Settings of sources and their syncs (``KBCHAT_SOURCES__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SourcesSettings(BaseModel):
    scheduler_interval_s: float = Field(
        default=15.0, gt=0, description="How often a worker process looks for sources due to sync."
    )
    min_schedule_s: int = Field(
        default=300, ge=1, description="The shortest schedule a source may ask for (politeness to sites)."
    )
    max_items: int = Field(default=10_000, ge=1, description="Pages or files one source holds at most.")
    remove_after_s: int = Field(
        default=86_400,
        ge=0,
        description="Default grace before a page that disappeared from its source loses its document.",
    )
    per_host_concurrency: int = Field(
        default=2, ge=1, le=32, description="Requests to one host at once, across this process's syncs."
    )
    per_host_delay_s: float = Field(
        default=0.25, ge=0, le=60, description="Pause between requests to one host (robots.txt may ask more)."
    )
    max_crawl_delay_s: float = Field(
        default=10.0, ge=0, description="The longest robots.txt Crawl-delay honoured; more is capped."
    )
    git_allowlist: list[str] = Field(
        default_factory=list,
        description="Repository URL prefixes a Git source may name (https://github.com/acme/, file:///srv/"
        "git/). Empty: no Git sources.",
    )
    git_timeout_s: float = Field(default=300.0, gt=0, description="Longest clone or fetch of a repository.")
