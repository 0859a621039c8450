"""DOCX: paragraphs in order, sections at Word's "Heading N" styles, tables as ``a | b | c`` rows
(python-docx). A DOCX is a zip: its declared uncompressed size is checked before anything is opened,
so a zip bomb fails this document with a clear error instead of exhausting the worker's memory."""

from __future__ import annotations

import io
import zipfile

import docx
from docx.document import Document as DocxDocument
from docx.table import Table
from docx.text.paragraph import Paragraph

from backend.errors import InvalidInput
from ingest.loaders.base import ParsedDocument, SectionBuilder

MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 200


def _check_archive(data: bytes, name: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise InvalidInput(
            f"{name} is not a valid DOCX (not a zip archive); save it again from Word"
        ) from None
    if total > MAX_UNCOMPRESSED or total > MAX_RATIO * max(len(data), 1):
        raise InvalidInput(
            f"{name} expands to {total:,} bytes from {len(data):,}; refusing a possible zip bomb"
        )


def _blocks(document: DocxDocument) -> list[Paragraph | Table]:
    body = document.element.body
    out: list[Paragraph | Table] = []
    for child in body.iterchildren():
        if child.tag.endswith("}p"):
            out.append(Paragraph(child, document))
        elif child.tag.endswith("}tbl"):
            out.append(Table(child, document))
    return out


def load_docx(data: bytes, *, name: str) -> ParsedDocument:
    _check_archive(data, name)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many kinds for broken packages
        raise InvalidInput(
            f"{name} is not a readable DOCX ({exc.__class__.__name__}); save it again"
        ) from None
    builder = SectionBuilder()
    title = document.core_properties.title or None
    for block in _blocks(document):
        if isinstance(block, Table):
            rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows]
            builder.add_block("\n".join(r for r in rows if r.strip(" |")))
            continue
        text = block.text.strip()
        style = (block.style.name if block.style is not None else "") or ""
        if style.startswith("Heading") and style[8:].strip().isdigit() and text:
            builder.heading_at(int(style[8:]), text)
        elif style == "Title" and text:
            title = title or text
        else:
            builder.add_block(text)
    return builder.build(title=title)
