"""Web connectors: one page, and every page a sitemap lists.

Both re-read a page with a conditional request (ETag / Last-Modified), so an unchanged page costs
one request and no download; a sitemap's ``<lastmod>``, when the site gives one, is the page's change
token, so an unchanged date costs no request at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from pydantic import BaseModel, ConfigDict, Field

from backend.catalog.urls import UrlPolicy
from backend.connectors.base import (
    Connector,
    Content,
    Failed,
    FetchFailed,
    Outcome,
    SourcePolicy,
    SyncContext,
    Unchanged,
)
from ingest.web.sitemap import MAX_SITEMAP_FILES, SitemapUnreadable, walk_sitemap


def fetch_page(ctx: SyncContext, url: str, *, change_token: str | None = None) -> Outcome:
    """One page as an outcome: Unchanged on a 304, Content otherwise, Failed with the reason."""
    previous = ctx.previous(url)
    try:
        page = ctx.http.get(url, previous=previous)
    except FetchFailed as exc:
        return Failed(url, exc.message, transient=exc.transient)
    if page.not_modified:
        return Unchanged(
            url, change_token=change_token, etag=page.etag or (previous.etag if previous else None)
        )
    return Content(
        url,
        page.data,
        content_type=page.content_type,
        name=page.url,
        source=url,
        change_token=change_token,
        etag=page.etag,
        last_modified=page.last_modified,
    )


def in_order(tasks: Iterable[Callable[[], Outcome]], workers: int) -> Iterator[Outcome]:
    """Run ``tasks`` on up to ``workers`` threads, yielding their outcomes in the tasks' order. At most
    twice ``workers`` run or wait ahead of the consumer, so pages in memory stay bounded; the per-host
    turn (ingest/web/polite.py) still decides how many requests reach one site at once."""
    if workers <= 1:
        yield from (task() for task in tasks)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kbchat-fetch") as pool:
        window: deque[Future[Outcome]] = deque()
        for task in tasks:
            window.append(pool.submit(task))
            if len(window) >= 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def check_address(url: str, policy: SourcePolicy) -> None:
    """A clear 422 now for a URL the fetcher will refuse (a private address, a non-HTTP scheme)."""
    UrlPolicy(policy.url_allowlist).resolve(url)


class PageConnector(Connector):
    kind = "page"
    description = "One web page (or file by URL), re-read with a conditional request on every sync."

    @classmethod
    def check(cls, url: str, settings: BaseModel, policy: SourcePolicy) -> None:
        check_address(url, policy)

    def sync(self, ctx: SyncContext) -> Iterator[Outcome]:
        yield fetch_page(ctx, ctx.url)


class SitemapSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_pages: int = Field(default=1000, ge=1, le=1_000_000, description="Pages synced at most.")
    prefix: str | None = Field(
        default=None, max_length=2000, description="Only pages whose URL starts with this (a site section)."
    )


class SitemapConnector(Connector):
    kind = "sitemap"
    description = "Every page a sitemap (or sitemap index) lists; its lastmod dates spare requests."
    Settings = SitemapSettings

    @classmethod
    def check(cls, url: str, settings: BaseModel, policy: SourcePolicy) -> None:
        check_address(url, policy)

    def sync(self, ctx: SyncContext) -> Iterator[Outcome]:
        settings = ctx.settings
        assert isinstance(settings, SitemapSettings)
        limit = min(settings.max_pages, ctx.limits.max_items)
        pages = self._pages(ctx, limit, settings.prefix)

        def outcome(url: str, lastmod: str | None) -> Outcome:
            previous = ctx.previous(url)
            if lastmod and previous is not None and previous.change_token == lastmod:
                return Unchanged(url, change_token=lastmod)
            return fetch_page(ctx, url, change_token=lastmod)

        tasks = (partial(outcome, url, lastmod) for url, lastmod in pages)
        for i, result in enumerate(in_order(tasks, ctx.limits.per_host_concurrency)):
            ctx.progress(i, len(pages))
            yield result

    @staticmethod
    def _pages(ctx: SyncContext, limit: int, prefix: str | None) -> list[tuple[str, str | None]]:
        """The listed pages, following sitemap indexes. A listing that fails is the sync's failure
        (raised); a child sitemap that fails, or a cut at ``limit``, leaves the listing incomplete."""

        def fetch(url: str) -> bytes:
            try:
                return ctx.http.get(url).data
            except FetchFailed as exc:
                raise SitemapUnreadable(exc.message) from None

        try:
            first = ctx.http.get(ctx.url)
            walk = walk_sitemap(first.data, fetch, limit=limit, prefix=prefix)
        except (FetchFailed, ValueError) as exc:  # no listing at all: the sync fails, and removes nothing
            transient = isinstance(exc, FetchFailed) and exc.transient
            message = exc.message if isinstance(exc, FetchFailed) else str(exc)
            raise FetchFailed(
                f"the sitemap {ctx.url} could not be read: {message}", transient=transient
            ) from None
        for child, message in walk.skipped:
            ctx.incomplete(f"the child sitemap {child} could not be read: {message}")
        if walk.over_limit:
            ctx.incomplete(
                f"the sitemap lists more than {limit:,} pages; only the first {limit:,} are synced"
            )
        if walk.files_left:
            ctx.incomplete(
                f"the sitemap has more than {MAX_SITEMAP_FILES} sitemap files; the rest were not read"
            )
        return walk.pages
