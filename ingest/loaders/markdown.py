"""Markdown: sections split at ATX and setext headings, found by a real parser (markdown-it-py) so a
``#`` inside a code block is never mistaken for a heading.

The document text is the source itself and sections are spans of it, so a citation's character
offsets point into the uploaded file.
"""

from __future__ import annotations

from itertools import accumulate

from markdown_it import MarkdownIt

from ingest.loaders.base import ParsedDocument, Section
from ingest.loaders.decoding import decode_text

_parser = MarkdownIt("commonmark")


def _trimmed(text: str, start: int, end: int, heading: tuple[str, ...]) -> Section | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Section(start, end, heading) if end > start else None


def load_markdown(data: bytes, *, name: str) -> ParsedDocument:
    text = decode_text(data, name=name)
    line_starts = [0, *accumulate(len(line) + 1 for line in text.split("\n"))]
    tokens = _parser.parse(text)
    path: list[tuple[int, str]] = []
    sections: list[Section] = []
    title: str | None = None
    cursor = 0  # first line of the current section's body
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or token.map is None:
            continue
        first, last = token.map
        section = _trimmed(text, line_starts[cursor], line_starts[first], tuple(t for _, t in path))
        if section:
            sections.append(section)
        heading, level = tokens[index + 1].content.strip(), int(token.tag[1])
        title = title or (heading if level == 1 else None)
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, heading))
        cursor = last
    section = _trimmed(
        text, line_starts[min(cursor, len(line_starts) - 1)], len(text), tuple(t for _, t in path)
    )
    if section:
        sections.append(section)
    return ParsedDocument(text=text, sections=sections, title=title)
