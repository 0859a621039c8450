"""The LLM provider seam, after simonw/llm: a provider implements one streaming method.

A provider receives the question, the numbered sources it may cite (``[1]``, ``[2]``…) and the
conversation so far, and yields the answer as text deltas. Joining the deltas gives the whole
answer, so non-streamed responses are just the streamed ones collected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import ClassVar, Protocol


@dataclass(frozen=True, slots=True)
class Source:
    index: int
    """1-based number the answer cites as ``[index]``."""
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Prompt:
    question: str
    sources: list[Source]
    history: list[Turn] = field(default_factory=list)
    system: str | None = None


class LLMProvider(Protocol):
    name: ClassVar[str]

    def stream(self, prompt: Prompt) -> AsyncIterator[str]:
        """Yield the answer in pieces; cite sources with ``[n]`` markers."""
        ...
