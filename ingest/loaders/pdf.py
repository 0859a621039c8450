"""PDF: the text of each page (pypdf: pure Python, actively maintained, no system libraries), one
section per page, so every citation carries its page number; ruled tables are rebuilt row by row with
their header (ingest/loaders/pdf_tables.py). A page without a text layer (a scan) is
rendered at 200 dpi with pypdfium2 and read by OCR (ingest/loaders/ocr.py): a text PDF keeps the fast
path, a mixed one pays OCR only for its scanned pages. Without the ``ocr`` extra, a PDF with no text at
all is refused saying how to install it, and a mixed one is indexed from its text pages."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PdfStreamError

from backend.errors import EmptyContent, InvalidInput
from ingest.loaders import ocr, progress
from ingest.loaders.base import Anchor, ParsedDocument, Section
from ingest.loaders.pdf_tables import with_tables

MAX_PAGES = 2000
log = logging.getLogger(__name__)
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
    pages = with_tables(data, reader, pages)
    scanned = [i for i, raw in enumerate(pages) if not raw.strip()]
    if scanned:
        pages = _ocr_pages(data, pages, scanned, name=name)
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
        raise EmptyContent(f"{name} has no text, neither as a text layer nor readable by OCR")
    return ParsedDocument(text="".join(parts), sections=sections, title=title, anchors=anchors)


def _ocr_pages(data: bytes, pages: list[str], scanned: list[int], *, name: str) -> list[str]:
    """``pages`` with the scanned ones read by OCR. OCR missing: an error if no page has text."""
    if len(scanned) > ocr.MAX_PAGES:
        raise InvalidInput(
            f"{name} has {len(scanned):,} scanned pages; OCR reads at most {ocr.MAX_PAGES:,} per document "
            "(about 2 s each on a CPU): split it"
        )
    if not ocr.available():
        if len(scanned) == len(pages):
            raise InvalidInput(f"{name} has no text layer (a scan): {ocr.INSTALL}")
        log.warning("%s: %d scanned pages skipped: %s", name, len(scanned), ocr.INSTALL)
        return pages
    import pypdfium2

    out = list(pages)
    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise InvalidInput(f"{name} could not be rendered for OCR ({exc})") from None
    try:
        for index in scanned:
            page = document[index]
            width, height = page.get_size()  # points
            scale = ocr.DPI / 72
            if width * height * scale * scale > ocr.MAX_PIXELS:  # a poster-sized page: rendered smaller
                scale = (ocr.MAX_PIXELS / (width * height)) ** 0.5
            image = page.render(scale=scale).to_pil()
            out[index] = ocr.read_image(image)
            progress.beat()
            page.close()
    finally:
        document.close()
    log.info("%s: OCR read %d of %d pages", name, len(scanned), len(pages))
    return out
