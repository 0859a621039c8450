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
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"the sitemap is not valid XML ({exc})") from None
    locs = [el.text.strip() for el in root.iter("{*}loc") if el.text and el.text.strip()]
    if etree.QName(root).localname == "sitemapindex":
        return [], locs
    return locs, []
