"""Sentence boundaries: where the offline answerer may cut a quote, and what retrieval scores.

Deliberately simple (end punctuation or a line break): passages are already token-bounded chunks,
and a quote that runs one abbreviation long is harmless, whereas a sentence model would be one more
download.
"""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n+")
MIN_SENTENCE_CHARS = 12
MAX_SENTENCES = 32
"""Per text: a text longer than this many sentences is scored on its first ones only (chunks are
token-bounded, so this guards against a table flattened into one "passage"; it is not a cut)."""


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text`` worth quoting (fragments under 12 characters are
    dropped); a text with none gives itself as one sentence."""
    spans: list[tuple[int, int]] = []
    position = 0
    for boundary in (*_BOUNDARY.finditer(text), None):
        end = boundary.start() if boundary else len(text)
        piece = text[position:end]
        stripped = piece.strip()
        if len(stripped) >= MIN_SENTENCE_CHARS:
            start = position + (len(piece) - len(piece.lstrip()))
            spans.append((start, start + len(stripped)))
        if boundary:
            position = boundary.end()
    if not spans and text.strip():
        start = len(text) - len(text.lstrip())
        spans.append((start, start + len(text.strip())))
    return spans[:MAX_SENTENCES]


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]
