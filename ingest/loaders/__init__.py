"""One loader per format name of :mod:`backend.catalog.formats`."""

from __future__ import annotations

from collections.abc import Callable

from backend.errors import EmptyContent, UnsupportedFormat
from ingest.loaders.base import ParsedDocument, Section
from ingest.loaders.html import load_html
from ingest.loaders.markdown import load_markdown
from ingest.loaders.plain_text import load_text

Loader = Callable[..., ParsedDocument]
LOADERS: dict[str, Loader] = {"text": load_text, "markdown": load_markdown, "html": load_html}


def parse(data: bytes, *, format: str, name: str) -> ParsedDocument:
    """Parse ``data``; raise :class:`EmptyContent` when nothing indexable remains."""
    loader = LOADERS.get(format)
    if loader is None:
        raise UnsupportedFormat(f"no loader for format {format!r}")
    parsed = loader(data, name=name)
    if not any(parsed.text[s.start : s.end].strip() for s in parsed.sections):
        raise EmptyContent(f"{name} contains no readable text")
    return parsed


__all__ = ["LOADERS", "ParsedDocument", "Section", "parse"]
