"""PPTX: each slide a section under its title, in slide order; its text frames in reading order (top
to bottom, then left to right), tables row by row with their header, then its speaker notes. Every
passage cites its slide (python-pptx; the archive is checked before it is opened)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from pptx import Presentation

from backend.errors import InvalidInput
from ingest.loaders.archive import open_archive
from ingest.loaders.base import ParsedDocument
from ingest.loaders.located import LocatedBuilder
from ingest.loaders.tabular import table_block

MAX_SLIDES = 5000


def _shapes(shapes: Any) -> Iterator[Any]:
    """Shapes in reading order, groups opened."""
    ordered = sorted(shapes, key=lambda s: ((s.top or 0), (s.left or 0)))
    for shape in ordered:
        if hasattr(shape, "shapes"):  # a group: its members, in their own order
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _text(shape: Any) -> str:
    if getattr(shape, "has_table", False) and shape.has_table:
        return table_block([[cell.text for cell in row.cells] for row in shape.table.rows])
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        return "\n".join(p.text.strip() for p in shape.text_frame.paragraphs if p.text.strip())
    return ""


def load_pptx(data: bytes, *, name: str) -> ParsedDocument:
    open_archive(data, name=name, kind="PPTX").close()
    try:
        presentation = Presentation(io.BytesIO(data))
        slides = list(presentation.slides)
    except Exception as exc:  # python-pptx raises many kinds for broken packages
        kind = exc.__class__.__name__
        raise InvalidInput(f"{name} is not a readable PPTX ({kind}); save it again") from None
    if len(slides) > MAX_SLIDES:
        raise InvalidInput(f"{name} has {len(slides):,} slides; the limit is {MAX_SLIDES:,}")
    builder = LocatedBuilder()
    for number, slide in enumerate(slides, start=1):
        title_shape = slide.shapes.title
        title = title_shape.text.strip() if title_shape is not None and title_shape.has_text_frame else ""
        builder.section((title or f"Slide {number}",))
        location = {"slide": number}
        lines = [
            _text(shape)
            for shape in _shapes(slide.shapes)
            if title_shape is None or shape.shape_id != title_shape.shape_id
        ]
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                lines.append(f"Speaker notes: {notes.text.strip()}")
        if not any(line.strip() for line in lines):
            lines = [title]  # a section slide: its title is all it says
        for line in lines:
            builder.line(line, location)
    title = presentation.core_properties.title or None
    return builder.build(title=title)
