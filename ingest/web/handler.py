"""The "fetch_url" job: fetch a page, or a sitemap and its pages, and upload each as a document.

Each page becomes a document whose ``source`` is its URL, through the same upload path as a file:
fetching a site again is a no-op for unchanged pages, and a changed page replaces its earlier
version (only its changed chunks are embedded again). One bad page is reported and skipped; the
job fails only when nothing could be fetched at all.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from backend.catalog import documents as docs
from backend.catalog.formats import detect_format
from backend.catalog.urls import UrlPolicy
from backend.errors import InvalidInput
from backend.jobs.worker import JobContext, JobHandler
from backend.plugins import PluginHost
from ingest.web.fetch import FetchError, Page, SafeFetcher
from ingest.web.sitemap import MAX_SITEMAP_FILES, SitemapUnreadable, looks_like_sitemap, walk_sitemap

log = logging.getLogger(__name__)


def page_format(page: Page) -> str:
    return served_format(page.url, page.content_type)


def served_format(url: str, content_type: str) -> str:
    """HTML by its content type first (``/help.php`` is a page); otherwise the extension, then the type."""
    media = content_type.split(";")[0].strip().lower()
    if media in ("text/html", "application/xhtml+xml"):
        return "html"
    return detect_format(urlsplit(url).path.rsplit("/", 1)[-1] or None, media)


def make_fetch_handler(services: PluginHost) -> JobHandler:
    limits = services.settings.ingest
    policy = UrlPolicy(limits.url_allowlist)

    def store(ctx: JobContext, page: Page, tags: list[str]) -> dict[str, Any]:
        with services.sessions.begin() as session:
            accepted = docs.accept_upload(
                session,
                kb_id=str(ctx.job.kb_id),
                data=page.data,
                format=page_format(page),
                name=page.url,
                source=page.url,
                tags=tags,
                max_bytes=limits.max_upload_bytes,
                max_attempts=limits.max_attempts,
            )
            return {
                "url": page.url,
                "document_id": accepted.document.id,
                "job_id": accepted.job.id if accepted.job else None,
                "unchanged": accepted.unchanged,
            }

    def handle(ctx: JobContext) -> None:
        payload = ctx.job.payload
        url, tags = payload["url"], payload.get("tags", [])
        fetcher = SafeFetcher(policy, max_bytes=limits.url_max_bytes, timeout_s=limits.url_timeout_s)
        try:
            ctx.report("fetching", 0.0, force=True)
            first = fetcher.get(url)
            sitemap = payload.get("sitemap")
            if sitemap is None:
                sitemap = looks_like_sitemap(first.content_type, first.data)
            if not sitemap:
                ctx.result = {"pages": 1, "documents": [store(ctx, first, tags)], "failed": []}
                services.wake_workers()
                return
            stored: list[dict[str, Any]] = []
            failed: list[dict[str, str]] = []  # a refused child sitemap or page fails alone
            pages = _sitemap_pages(fetcher, first, limit=limits.url_max_pages, failed=failed)
            for i, page_url in enumerate(pages):
                ctx.report("fetching", i / len(pages))
                try:
                    stored.append(store(ctx, fetcher.get(page_url), tags))
                except (InvalidInput, FetchError) as exc:
                    message = exc.message if isinstance(exc, InvalidInput) else str(exc)
                    log.warning("sitemap %s: page %s skipped: %s", url, page_url, message)
                    failed.append({"url": page_url, "error": message})
                if stored and i % 10 == 0:
                    services.wake_workers()
            ctx.result = {"pages": len(pages), "documents": stored, "failed": failed}
            services.wake_workers()
            if pages and not stored:
                raise InvalidInput(
                    f"none of the {len(pages)} pages of {url} could be fetched: {failed[0]['error']}"
                )
        finally:
            fetcher.close()

    return handle


def _sitemap_pages(
    fetcher: SafeFetcher, first: Page, *, limit: int, failed: list[dict[str, str]]
) -> list[str]:
    """Page URLs from a sitemap, following a sitemap index, de-duplicated, at most ``limit``. A child
    sitemap that is refused or cannot be read is recorded in ``failed``; the others still count."""

    def fetch(url: str) -> bytes:
        try:
            return fetcher.get(url).data
        except (InvalidInput, FetchError) as exc:
            raise SitemapUnreadable(exc.message if isinstance(exc, InvalidInput) else str(exc)) from None

    try:
        walk = walk_sitemap(first.data, fetch, limit=limit)
    except ValueError as exc:
        raise InvalidInput(f"{first.url}: {exc}") from None
    for child_url, message in walk.skipped:
        log.warning("sitemap %s: child sitemap %s skipped: %s", first.url, child_url, message)
        failed.append({"url": child_url, "error": message})
    if walk.over_limit:
        log.warning(
            "sitemap %s lists more than %d pages; only the first %d are fetched", first.url, limit, limit
        )
    if walk.files_left:
        log.warning(
            "sitemap %s: more than %d sitemap files; the rest were not read", first.url, MAX_SITEMAP_FILES
        )
    return [page for page, _ in walk.pages]
