"""Markdown: sections split at ATX and setext headings, found by a real parser (markdown-it-py) so a
``#`` inside a code block is never mistaken for a heading. The source text itself is kept."""

from __future__ import annotations

from markdown_it import MarkdownIt

from ingest.loaders.base import ParsedDocument, SectionBuilder
from ingest.loaders.decoding import decode_text

_parser = MarkdownIt("commonmark")


def load_markdown(data: bytes, *, name: str) -> ParsedDocument:
    text = decode_text(data, name=name)
    lines = text.split("\n")
    tokens = _parser.parse(text)
    builder = SectionBuilder()
    title: str | None = None
    cursor = 0  # next line not yet emitted
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or token.map is None:
            continue
        first, last = token.map
        builder.add_block("\n".join(lines[cursor:first]).strip("\n"))
        heading = tokens[index + 1].content.strip()
        level = int(token.tag[1])
        if title is None and level == 1:
            title = heading
        builder.heading_at(level, heading)
        cursor = last
    builder.add_block("\n".join(lines[cursor:]).strip("\n"))
    return builder.build(title=title)
