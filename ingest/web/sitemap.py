"""Sitemaps (sitemaps.org protocol): ``<urlset>`` lists pages, ``<sitemapindex>`` lists sitemaps.

Parsed with lxml with entity resolution and network access off and no huge trees, so a hostile
sitemap cannot expand entities ("billion laughs") or make the parser fetch anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)


def looks_like_sitemap(content_type: str, data: bytes) -> bool:
    head = data[:2048].lstrip()
    return ("xml" in content_type or head.startswith(b"<?xml")) and (
        b"<urlset" in head or b"<sitemapindex" in head
    )


def parse_sitemap_entries(data: bytes) -> tuple[list[tuple[str, str | None]], list[str]]:
    """``([(page, lastmod or None)], sitemaps)``: a urlset's pages with their ``<lastmod>`` (a sync's
    change token: an unchanged date costs no request), or a sitemap index's sitemaps."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"the sitemap is not valid XML ({exc})") from None
    if etree.QName(root).localname == "sitemapindex":
        return [], [el.text.strip() for el in root.iter("{*}loc") if el.text and el.text.strip()]
    pages: list[tuple[str, str | None]] = []
    for entry in root.iter("{*}url"):
        loc = entry.find("{*}loc")
        if loc is None or not (loc.text or "").strip():
            continue
        lastmod = entry.find("{*}lastmod")
        stamp = (lastmod.text or "").strip()[:100] if lastmod is not None else ""
        pages.append(((loc.text or "").strip(), stamp or None))
    return pages, []


MAX_SITEMAP_FILES = 50
"""Sitemap files one walk reads at most (the index and its children)."""


class SitemapUnreadable(Exception):
    """A sitemap file could not be fetched or parsed; ``fetch`` callers raise it with the reason."""


@dataclass
class SitemapWalk:
    pages: list[tuple[str, str | None]]
    """``(page URL, lastmod or None)``, de-duplicated, in listed order, at most the limit."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Child sitemaps that could not be read: ``(url, reason)``."""
    over_limit: bool = False
    """It lists more pages than the limit (only the first are in ``pages``)."""
    files_left: bool = False
    """It has more than MAX_SITEMAP_FILES sitemap files; the rest were not read."""


def walk_sitemap(
    data: bytes,
    fetch: Callable[[str], bytes],
    *,
    limit: int,
    prefix: str | None = None,
) -> SitemapWalk:
    """The pages a sitemap lists, following sitemap indexes breadth first. ``data`` is the first
    file's bytes (already fetched by the caller); ``fetch`` reads a child, raising SitemapUnreadable.
    A first file that is not a sitemap raises ValueError; an unreadable child is skipped and noted."""
    pages, pending = parse_sitemap_entries(data)
    walk = SitemapWalk([])
    found: dict[str, str | None] = {}
    files = 1
    while True:
        for loc, lastmod in pages:
            if prefix is None or loc.startswith(prefix):
                found.setdefault(loc, lastmod)
        if len(found) > limit:
            walk.over_limit = True
            break
        if not pending:
            break
        if files >= MAX_SITEMAP_FILES:
            walk.files_left = True
            break
        child = pending.pop(0)
        files += 1
        try:
            pages, nested = parse_sitemap_entries(fetch(child))
        except (SitemapUnreadable, ValueError) as exc:
            walk.skipped.append((child, str(exc)))
            pages, nested = [], []
        pending.extend(nested)
    walk.pages = list(found.items())[:limit]
    return walk
