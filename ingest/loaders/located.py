"""Builds a ParsedDocument from parts that each know where they sit: a slide, a sheet's rows, a chapter,
a record. Parts are sections of their own (under their heading path); lines of one part share its
section and carry their own location (a row number), so citations can say "sheet Prices, rows 4–9"."""

from __future__ import annotations

from typing import Any

from ingest.loaders.base import Anchor, ParsedDocument, Section


class LocatedBuilder:
    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.sections: list[Section] = []
        self.anchors: list[Anchor] = []
        self._open: tuple[int, tuple[str, ...]] | None = None
        self._lines_in_section = 0

    def _append(self, text: str) -> None:
        self._parts.append(text)
        self._length += len(text)

    def section(self, heading: tuple[str, ...]) -> None:
        """Start a section: the lines that follow are under ``heading`` (empty sections are dropped)."""
        self._close()
        self._open = (self._length, heading)
        self._lines_in_section = 0

    def line(self, text: str, location: dict[str, Any]) -> None:
        """Add ``text`` to the open section (one line), anchored at ``location``."""
        text = text.strip()
        if not text:
            return
        if self._open is None:
            self.section(())
        if self._lines_in_section:
            self._append("\n")
        elif self._parts:
            self._append("\n\n")
            assert self._open is not None
            self._open = (self._length, self._open[1])
        start = self._length
        self._append(text)
        self.anchors.append(Anchor(start, self._length, location))
        self._lines_in_section += 1

    def part(self, heading: tuple[str, ...], text: str, location: dict[str, Any]) -> None:
        """A section of its own: ``text`` (paragraphs kept) under ``heading`` at ``location``."""
        self.section(heading)
        self.line(text, location)

    def _close(self) -> None:
        if self._open is not None and self._lines_in_section:
            self.sections.append(Section(self._open[0], self._length, self._open[1]))
        self._open = None

    def build(self, title: str | None = None) -> ParsedDocument:
        self._close()
        return ParsedDocument("".join(self._parts), self.sections, title=title, anchors=self.anchors)
