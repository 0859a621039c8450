"""One loader per format name of :mod:`backend.catalog.formats`."""

from __future__ import annotations

from collections.abc import Callable

from backend.errors import EmptyContent, UnsupportedFormat
from ingest.loaders.base import ParsedDocument, Section
from ingest.loaders.docx import load_docx
from ingest.loaders.epub import load_epub
from ingest.loaders.html import load_html
from ingest.loaders.image import load_image
from ingest.loaders.markdown import load_markdown
from ingest.loaders.opendocument import load_odt
from ingest.loaders.pdf import load_pdf
from ingest.loaders.plain_text import load_text
from ingest.loaders.records import load_json, load_jsonl
from ingest.loaders.rtf import load_rtf
from ingest.loaders.slides import load_pptx
from ingest.loaders.spreadsheet import load_ods, load_xlsx
from ingest.loaders.subtitles import load_subtitles
from ingest.loaders.table import load_table, load_tsv

Loader = Callable[..., ParsedDocument]
LOADERS: dict[str, Loader] = {
    "text": load_text,
    "markdown": load_markdown,
    "html": load_html,
    "pdf": load_pdf,
    "docx": load_docx,
    "csv": load_table,
    "tsv": load_tsv,
    "vtt": load_subtitles,
    "srt": load_subtitles,
    "pptx": load_pptx,
    "xlsx": load_xlsx,
    "ods": load_ods,
    "epub": load_epub,
    "odt": load_odt,
    "rtf": load_rtf,
    "json": load_json,
    "jsonl": load_jsonl,
    "png": load_image,
    "jpeg": load_image,
    "tiff": load_image,
    "webp": load_image,
}


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
