"""Tables in text PDFs, kept as tables: each row ``column: value; …`` with its header, in its place on
the page between the text above and below it — instead of pypdf's reading of a table as one line of
words per row, where "EU 3 years parts and labour" has lost which value is which.

pdfplumber finds tables by their ruling lines; it parses the page again (pdfminer: tens of
milliseconds a page), so it runs only on pages whose content draws at least a few rectangles or lines
(a cheap look at the page's operators), and a page where it finds no table keeps pypdf's text.
"""

from __future__ import annotations

import io
import logging
import re
from functools import partial
from typing import Any

from pypdf import PdfReader

from ingest.loaders.tabular import table_block

log = logging.getLogger(__name__)
_DRAWING = re.compile(rb"(?:^|\s)(?:re|l)\s")
MIN_DRAWING_OPS = 4


def _draws(reader: PdfReader, index: int) -> bool:
    try:
        contents = reader.pages[index].get_contents()
        data = contents.get_data() if contents is not None else b""
    except Exception:  # an unreadable stream: pypdf's text stands
        return False
    return len(_DRAWING.findall(data[:2_000_000])) >= MIN_DRAWING_OPS


def _inside(obj: dict[str, Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    x = (obj["x0"] + obj["x1"]) / 2
    y = (obj["top"] + obj["bottom"]) / 2
    return any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)


def _kept(obj: dict[str, Any], *, boxes: list[tuple[float, float, float, float]]) -> bool:
    """Everything but the characters inside a table (those come back through the table's cells)."""
    return obj.get("object_type") != "char" or not _inside(obj, boxes)


def with_tables(data: bytes, reader: PdfReader, pages: list[str]) -> list[str]:
    """``pages`` with the text of each page that holds ruled tables rebuilt: its lines outside the
    tables, and each table as rows with their header, in top-to-bottom order."""
    candidates = [i for i, text in enumerate(pages) if text.strip() and _draws(reader, i)]
    if not candidates:
        return pages
    import pdfplumber

    out = list(pages)
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for index in candidates:
                page = pdf.pages[index]
                tables = page.find_tables()
                if not tables:
                    continue
                boxes = [t.bbox for t in tables]
                outside = page.filter(partial(_kept, boxes=boxes))
                blocks = [(line["top"], line["text"]) for line in outside.extract_text_lines()]
                for table, box in zip(tables, boxes, strict=True):
                    rows = [[cell or "" for cell in row] for row in table.extract()]
                    blocks.append((box[1], table_block(rows)))
                out[index] = "\n".join(text for _, text in sorted(blocks, key=lambda b: b[0]) if text.strip())
    except Exception as exc:  # pdfminer disagrees with a malformed file pypdf could read: keep pypdf's text
        log.warning(
            "tables could not be read from a PDF (%s: %s); its text is kept as pypdf read it",
            type(exc).__name__,
            exc,
        )
        return pages
    return out
