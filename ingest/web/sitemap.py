"""Sitemaps (sitemaps.org protocol): ``<urlset>`` lists pages, ``<sitemapindex>`` lists sitemaps.

Parsed with lxml with entity resolution and network access off and no huge trees, so a hostile
sitemap cannot expand entities ("billion laughs") or make the parser fetch anything.
"""

from __future__ import annotations

from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)


def looks_like_sitemap(content_type: str, data: bytes) -> bool:
    head = data[:2048].lstrip()
    return ("xml" in content_type or head.startswith(b"<?xml")) and (
        b"<urlset" in head or b"<sitemapindex" in head
    )


def parse_sitemap(data: bytes) -> tuple[list[str], list[str]]:
    """``(pages, sitemaps)``: the ``<loc>`` entries of a urlset, or of a sitemap index."""
    pages, sitemaps = parse_sitemap_entries(data)
    return [loc for loc, _ in pages], sitemaps


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
