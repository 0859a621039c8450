"""Token-aware, heading-aware chunking with the encoder's own tokenizer.

Guarantees (tested as properties in tests/ingest/test_chunker.py):
- **limits kept**: the text the encoder sees (heading path + chunk) never exceeds ``max_tokens``;
- **no text lost**: every token of every section lies inside at least one chunk;
- **overlap**: consecutive chunks of a section share about ``overlap_tokens`` tokens, never more.

With ``lead_tokens`` (off by default), every chunk after the document's opening also reads the
opening's first tokens above its own text (the *lead*, beside the heading path): a passage from the
middle of a page says what it explains, but not what page it belongs to. Measured (docs/benchmarks.md):
32 tokens moved nDCG@10 by −0.005 to +0.007 on the shared sets, but raised manpages' false answers at
the tuned gate from 6.9 % to 11.1 %, so it is not the default.

Cuts prefer, in order, a paragraph break, a line break, a sentence end, then any space; a cut never
falls inside a word (between word pieces), unless a single "word" is longer than the whole budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.encoder.base import Tokenizer
from backend.text.hyphenation import join_broken_words
from ingest.loaders.base import ParsedDocument

_SENTENCE_END = frozenset(".!?;:")
MIN_BUDGET = 16


@dataclass(frozen=True, slots=True)
class Chunk:
    ordinal: int
    text: str
    heading: tuple[str, ...]
    char_start: int
    char_end: int
    token_count: int
    context: str = ""
    """Title and heading path, cut to at most half the token budget; for a chunk after the document's
    opening, then a line with the opening's first tokens (the lead)."""
    location: dict[str, Any] = field(default_factory=dict)
    """Where the chunk sits in the source: page, rows, or time range (from the loader's anchors)."""

    @property
    def embedding_text(self) -> str:
        """What the encoder reads: the heading path gives a passage the context its own text lacks, and
        words a typesetter broke across lines are whole again (the stored text and offsets keep them)."""
        return join_broken_words(f"{self.context}\n{self.text}" if self.context else self.text)


def heading_prefix(title: str | None, heading: tuple[str, ...]) -> str:
    parts = [p for p in (title, *heading) if p]
    if len(parts) > 1 and parts[0] == parts[1]:  # a Markdown "# Title" repeats the document title
        parts = parts[1:]
    return " > ".join(parts)


BLOCK_CHARS = 64_000
"""A section is tokenized this much at a time: the tokenizer's offsets for a whole 10 MB text without
headings (millions of Python tuples) took the worker past a gigabyte; a block costs a few MB."""


def _blocks(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut into spans of at most ``BLOCK_CHARS``, each ending at a paragraph or line
    break (else a space) when there is one in its second half, so no sentence is cut for memory."""
    spans = []
    while end - start > BLOCK_CHARS:
        limit = start + BLOCK_CHARS
        cut = limit
        for separator in ("\n\n", "\n", " "):
            found = text.rfind(separator, start + BLOCK_CHARS // 2, limit)
            if found != -1:
                cut = found + len(separator)
                break
        spans.append((start, cut))
        start = cut
    spans.append((start, end))
    return spans


class Chunker:
    def __init__(
        self,
        tokenizer: Tokenizer,
        *,
        max_tokens: int,
        overlap_tokens: int = 32,
        lead_tokens: int = 0,
    ) -> None:
        if max_tokens < MIN_BUDGET:
            raise ValueError(f"max_tokens must be at least {MIN_BUDGET}, got {max_tokens}")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.lead_tokens = min(lead_tokens, max_tokens // 4)  # the chunk's own text keeps most of the budget

    def split(self, doc: ParsedDocument) -> list[Chunk]:
        chunks: list[Chunk] = []
        lead, lead_end = self._lead(doc)
        for section in doc.sections:
            heading = heading_prefix(doc.title, section.heading)
            plain = self._context(heading)
            led = self._with_lead(plain[0], lead) if lead else plain
            for block_start, block_end in _blocks(doc.text, section.start, section.end):
                text = doc.text[block_start:block_end]
                for start, end, count, context in self._windows(text, plain, led, lead_end - block_start):
                    chunks.append(
                        Chunk(
                            ordinal=len(chunks),
                            text=text[start:end],
                            heading=section.heading,
                            char_start=block_start + start,
                            char_end=block_start + end,
                            token_count=count,
                            context=context,
                            location=doc.locate(block_start + start, block_start + end),
                        )
                    )
        return chunks

    def _lead(self, doc: ParsedDocument) -> tuple[str, int]:
        """The document's first ``lead_tokens`` tokens, cut at a word end, on one line; and where they
        end in ``doc.text`` (a chunk starting before that already reads them)."""
        if not self.lead_tokens or not doc.sections:
            return "", 0
        start = doc.sections[0].start
        head = doc.text[start : start + 8 * self.lead_tokens]  # a token is rarely 8 characters
        offsets = self.tokenizer.token_offsets(head)
        if len(offsets) <= self.lead_tokens and start + len(head) >= len(doc.text):
            return "", len(doc.text)  # a short document: every chunk holds all of it
        k = min(self.lead_tokens, len(offsets))  # fewer: pieces of very long words filled the window
        while 1 < k < len(offsets) and self._cut_quality(head, offsets, k) == 0:
            k -= 1
        end = offsets[k - 1][1]
        return " ".join(head[:end].split()), start + end

    def _with_lead(self, heading: str, lead: str) -> tuple[str, int]:
        context = f"{heading}\n{lead}" if heading else lead
        return context, len(self.tokenizer.token_offsets(context))

    def _context(self, prefix: str) -> tuple[str, int]:
        """The prefix, cut at a token boundary to at most half the budget; and its token count."""
        if not prefix:
            return "", 0
        offsets = self.tokenizer.token_offsets(prefix)
        limit = self.max_tokens // 2 - 1  # one token for the newline-free join is spare
        if len(offsets) > limit:
            prefix = prefix[: offsets[limit - 1][1]]
            offsets = offsets[:limit]
        return prefix, len(offsets)

    def _fits(self, context: str, text: str) -> bool:
        embedded = f"{context}\n{text}" if context else text
        return len(self.tokenizer.token_offsets(embedded)) <= self.max_tokens

    def _windows(
        self, text: str, plain: tuple[str, int], led: tuple[str, int], lead_end: int
    ) -> list[tuple[int, int, int, str]]:
        """Windows of ``text`` as (start, end, tokens, context): one starting before ``lead_end`` reads
        the ``plain`` context above it, a later one the ``led`` one (and has that much less room)."""
        offsets = self.tokenizer.token_offsets(text)
        n = len(offsets)
        windows: list[tuple[int, int, int, str]] = []
        i = 0
        while i < n:
            context, context_tokens = led if offsets[i][0] >= lead_end else plain
            budget = self.max_tokens - context_tokens
            j = min(i + budget, n)
            if j < n:
                j = self._best_cut(text, offsets, low=i + budget // 2, high=j)
            # A window cut inside a word re-tokenizes into more pieces on its own ("##ious" → "io", "##us"):
            # check the exact text the encoder will read, and shrink until it fits.
            while j > i + 1 and not self._fits(context, text[offsets[i][0] : offsets[j - 1][1]]):
                j -= 1
            windows.append((offsets[i][0], offsets[j - 1][1], j - i, context))
            if j >= n:
                break
            overlap = min(self.overlap_tokens, budget // 4)  # keeps every window advancing by ≥ budget/4
            i = self._overlap_start(text, offsets, i, j, overlap)
        return windows

    @staticmethod
    def _cut_quality(text: str, offsets: list[tuple[int, int]], k: int) -> int:
        """How good a cut between token ``k-1`` and token ``k`` is (0 = inside a word)."""
        gap = text[offsets[k - 1][1] : offsets[k][0]]
        if "\n\n" in gap:
            return 4
        if "\n" in gap:
            return 3
        if gap and text[offsets[k - 1][1] - 1] in _SENTENCE_END:
            return 2
        return 1 if gap else 0

    def _best_cut(self, text: str, offsets: list[tuple[int, int]], *, low: int, high: int) -> int:
        best_k, best_q = high, self._cut_quality(text, offsets, high)
        for k in range(high - 1, max(low, 1) - 1, -1):
            quality = self._cut_quality(text, offsets, k)
            if quality > best_q:
                best_k, best_q = k, quality
        if best_q == 0:  # no space anywhere in the back half: a cut inside a word is the only option
            return high
        return best_k

    def _overlap_start(self, text: str, offsets: list[tuple[int, int]], i: int, j: int, overlap: int) -> int:
        """Start the next window ``overlap`` tokens back from ``j``, moved forward to a word start."""
        k = max(j - overlap, i + 1)
        while k < j and self._cut_quality(text, offsets, k) == 0:
            k += 1
        return k
