"""DOCX: paragraphs in order, sections at Word's "Heading N" styles, tables row by row with their
header in every line (python-docx; ingest/loaders/tabular.py). A DOCX is a zip: its declared sizes are
checked before anything is opened (ingest/loaders/archive.py), so a zip bomb fails this document with a
clear error instead of exhausting the worker's memory."""

from __future__ import annotations

import io

import docx
from docx.document import Document as DocxDocument
from docx.table import Table
from docx.text.paragraph import Paragraph

from backend.errors import InvalidInput
from ingest.loaders.archive import open_archive
from ingest.loaders.base import ParsedDocument, SectionBuilder
from ingest.loaders.tabular import table_block


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
    open_archive(data, name=name, kind="DOCX").close()
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
            builder.add_block(table_block([[cell.text for cell in row.cells] for row in block.rows]))
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
