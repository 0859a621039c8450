"""WebVTT and SRT transcripts: cue texts in order, each anchored to its time range, so a citation can
point to the moment in the video. Speaker tags (``<v Ana>``) become ``Ana:``; other markup is dropped."""

from __future__ import annotations

import re

from backend.errors import EmptyContent
from ingest.loaders.base import Anchor, ParsedDocument, Section
from ingest.loaders.decoding import decode_text

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_CUE = re.compile(rf"^{_TIME}\s*-->\s*{_TIME}")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>")
_TAG = re.compile(r"</?[^>]+>")


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def load_subtitles(data: bytes, *, name: str) -> ParsedDocument:
    lines = decode_text(data, name=name).split("\n")
    cues: list[tuple[float, float, str]] = []
    i = 0
    while i < len(lines):
        match = _CUE.match(lines[i].strip())
        i += 1
        if not match:
            continue
        g = match.groups()
        start, end = _seconds(*g[:4]), _seconds(*g[4:])
        text_lines = []
        while i < len(lines) and lines[i].strip():
            text_lines.append(_TAG.sub("", _VOICE.sub(r"\1: ", lines[i])).strip())
            i += 1
        text = " ".join(t for t in text_lines if t)
        if text:
            cues.append((start, end, text))
    if not cues:
        raise EmptyContent(
            f"{name} has no subtitle cues ('00:00:01.000 --> 00:00:04.000' lines followed by text)"
        )
    parts: list[str] = []
    anchors: list[Anchor] = []
    length = 0
    for start, end, text in cues:
        if parts:
            parts.append("\n")
            length += 1
        anchors.append(Anchor(length, length + len(text), {"start_s": start, "end_s": end}))
        parts.append(text)
        length += len(text)
    body = "".join(parts)
    return ParsedDocument(body, [Section(0, len(body))], anchors=anchors)
