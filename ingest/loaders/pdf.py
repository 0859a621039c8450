"""PDF: the text of each page (pypdf: pure Python, actively maintained, no system libraries), one
section per page, so every citation carries its page number. Scanned pages without a text layer
yield nothing; a PDF with no text at all is refused with a clear message (OCR is not built in)."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PdfStreamError

from backend.errors import EmptyContent, InvalidInput
from ingest.loaders.base import Anchor, ParsedDocument, Section

MAX_PAGES = 2000
logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed-but-readable files warn per object


def load_pdf(data: bytes, *, name: str) -> ParsedDocument:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidInput(f"{name} is password-protected; upload an unencrypted copy")
        if len(reader.pages) > MAX_PAGES:
            raise InvalidInput(f"{name} has {len(reader.pages)} pages; the limit is {MAX_PAGES}")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or None
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{name} is not a readable PDF ({exc.__class__.__name__}: {exc})") from None
    parts: list[str] = []
    sections: list[Section] = []
    anchors: list[Anchor] = []
    length = 0
    for number, raw in enumerate(pages, start=1):
        text = raw.strip()
        if not text:
            continue
        if parts:
            parts.append("\n\n")
            length += 2
        sections.append(Section(length, length + len(text)))
        anchors.append(Anchor(length, length + len(text), {"page": number}))
        parts.append(text)
        length += len(text)
    if not sections:
        raise EmptyContent(f"{name} has no text layer (a scan?); run OCR first, then upload the result")
    return ParsedDocument(text="".join(parts), sections=sections, title=title, anchors=anchors)
