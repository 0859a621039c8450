"""HTML: the page's readable text in document order, sections at h1–h6.

BeautifulSoup with lxml tolerates the broken markup real pages have. Scripts, styles, navigation,
headers, footers and forms are dropped; ``<main>`` or ``<article>`` is preferred over the whole body.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, Tag
from bs4.element import NavigableString

from ingest.loaders.base import ParsedDocument, SectionBuilder
from ingest.loaders.decoding import decode_text

_DROP = {
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "nav",
    "footer",
    "header",
    "aside",
    "form",
    "iframe",
}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "pre",
    "blockquote",
    "table",
    "tr",
    "td",
    "th",
    "dl",
    "dt",
    "dd",
    "section",
    "article",
    "main",
    "figure",
    "figcaption",
    "caption",
    "details",
    "summary",
    "hr",
}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _Walker:
    def __init__(self) -> None:
        self.builder = SectionBuilder()
        self.buffer: list[str] = []

    def flush(self) -> None:
        raw = "".join(self.buffer)
        self.buffer.clear()
        lines = (_SPACES.sub(" ", line).strip() for line in raw.split("\n"))
        self.builder.add_block("\n".join(line for line in lines if line))

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                self.buffer.append(str(child).replace("\n", " "))
            elif isinstance(child, Tag):
                self.visit(child)

    def visit(self, tag: Tag) -> None:
        name = tag.name
        if name in _DROP:
            return
        if name in _HEADINGS:
            self.flush()
            self.builder.heading_at(_HEADINGS[name], _SPACES.sub(" ", tag.get_text(" ")).strip())
        elif name == "pre":
            self.flush()
            self.builder.add_block(tag.get_text().strip("\n"))
        elif name == "br":
            self.buffer.append("\n")
        elif name in _BLOCKS:
            self.flush()
            self.walk(tag)
            self.flush()
        else:
            self.walk(tag)


def load_html(data: bytes, *, name: str) -> ParsedDocument:
    soup = BeautifulSoup(decode_text(data, name=name), "lxml")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ").strip() if title_tag else None
    root = soup.find("main") or soup.find("article") or soup.body or soup
    walker = _Walker()
    if isinstance(root, Tag):
        walker.walk(root)
    walker.flush()
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ").strip() if h1 else None
    return walker.builder.build(title=title or None)
