"""Plain text: one section; paragraphs are kept as they are so the chunker can cut between them."""

from __future__ import annotations

from ingest.loaders.base import ParsedDocument, Section
from ingest.loaders.decoding import decode_text


def load_text(data: bytes, *, name: str) -> ParsedDocument:
    text = decode_text(data, name=name)
    return ParsedDocument(text=text, sections=[Section(0, len(text))])
