"""What a loader produces: the document's plain text and its sections (heading path + span)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Section:
    """A span ``[start, end)`` of :attr:`ParsedDocument.text` under one heading path."""

    start: int
    end: int
    heading: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Anchor:
    """A span ``[start, end)`` of the text and where it sits in the source: a page, rows, a moment."""

    start: int
    end: int
    location: dict[str, Any]


@dataclass(slots=True)
class ParsedDocument:
    text: str
    sections: list[Section]
    title: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    anchors: list[Anchor] = field(default_factory=list)

    def locate(self, start: int, end: int) -> dict[str, Any]:
        """Where ``[start, end)`` sits in the source: the first overlapping anchor's location, widened to
        the last one's (``page``…``page_end``, ``start_s``…``end_s``, ``row``…``row_end``)."""
        hits = [a for a in self.anchors if a.start < end and start < a.end]
        if not hits:
            return {}
        first, last = hits[0].location, hits[-1].location
        location = dict(first)
        for key in ("page", "row"):
            if key in first and last.get(key) != first[key]:
                location[f"{key}_end"] = last[key]
        if "end_s" in last:
            location["end_s"] = last["end_s"]
        return location


class SectionBuilder:
    """Accumulates text blocks under headings, tracking spans; shared by the Markdown and HTML loaders."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._path: list[tuple[int, str]] = []
        self._sections: list[Section] = []
        self._section_start: int | None = None

    @property
    def heading(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._path)

    def heading_at(self, level: int, text: str) -> None:
        """Close the current section and open one under ``text`` at ``level`` (1 = top)."""
        self._close()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        if text:
            self._path.append((level, text))

    def add_block(self, text: str) -> None:
        if not text.strip():
            return
        if self._parts:
            self._append("\n\n")
        if self._section_start is None:
            self._section_start = self._length
        self._append(text)

    def _append(self, text: str) -> None:
        self._parts.append(text)
        self._length += len(text)

    def _close(self) -> None:
        if self._section_start is not None:
            self._sections.append(Section(self._section_start, self._length, self.heading))
        self._section_start = None

    def build(self, title: str | None = None) -> ParsedDocument:
        self._close()
        return ParsedDocument(text="".join(self._parts), sections=self._sections, title=title)
