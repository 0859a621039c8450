"""The crawl connector: a site section, followed link by link inside a URL prefix.

Breadth first from the start page, one depth at a time (its pages fetched up to the per-host
concurrency at once, in order), at most ``max_depth`` links away and ``max_pages`` pages, only
URLs under ``prefix`` (by default the start page's folder), fragments dropped, ``rel="nofollow"``
respected, ``robots.txt`` obeyed. Each page is re-read conditionally; a page that did not change (304)
is not downloaded, so its links come from what the last sync kept in the item's state — and so do
the links of a page that cannot be read now. A transient failure, or any failure of the start page,
makes the listing incomplete: such a sync removes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from lxml import etree
from pydantic import BaseModel, ConfigDict, Field

from backend.connectors.base import Connector, Content, Failed, Outcome, SourcePolicy, SyncContext
from backend.errors import InvalidInput
from ingest.connectors.web import check_address, fetch_page, in_order

MAX_LINKS_KEPT = 1000
HTML_TYPES = ("text/html", "application/xhtml+xml")


class CrawlSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prefix: str | None = Field(
        default=None,
        max_length=2000,
        description="Follow only URLs starting with this; default: the start URL up to its last '/'.",
    )
    max_depth: int = Field(default=3, ge=0, le=20, description="Links away from the start page.")
    max_pages: int = Field(default=500, ge=1, le=100_000, description="Pages synced at most.")


def default_prefix(url: str) -> str:
    parts = urlsplit(url)
    folder = parts.path.rsplit("/", 1)[0] + "/" if "/" in parts.path else "/"
    return f"{parts.scheme}://{parts.netloc}{folder}"


def page_links(data: bytes, base: str, prefix: str) -> list[str]:
    """The page's followable links under ``prefix``, absolute, without fragments, in page order."""
    try:
        root = lxml.html.document_fromstring(data)
    except (etree.ParserError, ValueError):
        return []
    found: dict[str, None] = {}
    for anchor in root.iter("a"):
        href = anchor.get("href")
        if not href or "nofollow" in (anchor.get("rel") or "").lower().split():
            continue
        url = urldefrag(urljoin(base, href.strip())).url
        if url.startswith(prefix) and url.startswith(("http://", "https://")):
            found[url] = None
        if len(found) >= MAX_LINKS_KEPT:
            break
    return list(found)


class CrawlConnector(Connector):
    kind = "crawl"
    description = (
        "A site section: links followed from a start page inside a URL prefix, depth and page limits."
    )
    Settings = CrawlSettings

    @classmethod
    def check(cls, url: str, settings: BaseModel, policy: SourcePolicy) -> None:
        check_address(url, policy)
        assert isinstance(settings, CrawlSettings)
        if settings.prefix is not None and not url.startswith(settings.prefix):
            raise InvalidInput(f"the start URL {url[:200]} is not under the prefix {settings.prefix[:200]}")

    def sync(self, ctx: SyncContext) -> Iterator[Outcome]:
        settings = ctx.settings
        assert isinstance(settings, CrawlSettings)
        prefix = settings.prefix or default_prefix(ctx.url)
        limit = min(settings.max_pages, ctx.limits.max_items)
        start = urldefrag(ctx.url).url
        level, seen, done = [start], {start}, 0
        for depth in range(settings.max_depth + 1):  # breadth first, one depth at a time
            if not level:
                return
            if done + len(level) > limit:
                ctx.incomplete(
                    f"the crawl reached its limit of {limit:,} pages; pages beyond it were not visited"
                )
                level = level[: limit - done]
            tasks = [partial(fetch_page, ctx, url) for url in level]  # per-host turns pace them
            following: list[str] = []
            for url, outcome in zip(level, in_order(tasks, ctx.limits.per_host_concurrency), strict=True):
                done += 1
                ctx.progress(done, None)
                outcome, links = self._links(ctx, url, outcome, prefix, start)
                yield outcome
                for link in links if depth < settings.max_depth else []:
                    if link not in seen:
                        seen.add(link)
                        following.append(link)
            level = following

    @staticmethod
    def _links(
        ctx: SyncContext, url: str, outcome: Outcome, prefix: str, start: str
    ) -> tuple[Outcome, list[str]]:
        """The outcome (a page's links kept in its state) and the links to follow from it."""
        if isinstance(outcome, Content):
            media = outcome.content_type.split(";")[0].strip().lower()
            links = (
                page_links(outcome.data, outcome.name or url, prefix)
                if media in HTML_TYPES or not media
                else []
            )
            return replace(outcome, state={"links": links}), links
        # unchanged, or unreadable now: its links as last seen keep its pages in view
        previous = ctx.previous(url)
        links = list((previous.state if previous else {}).get("links", []))
        if isinstance(outcome, Failed) and (outcome.transient or url == start):
            ctx.incomplete(f"{url} could not be read ({outcome.error}); pages it links to may be unseen")
        return outcome, links
