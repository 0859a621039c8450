"""The LLM provider seam, after simonw/llm: a provider implements one streaming method.

A provider receives the conversation as chat messages (system, history, and a final user message
that carries the numbered sources as quoted data) and yields :class:`Delta` pieces: text as it
arrives, and token usage when the provider reports it. Joining the text gives the whole answer,
so a non-streamed response is the streamed one collected: the two can never disagree.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import ClassVar, Protocol


@dataclass(frozen=True, slots=True)
class Source:
    index: int
    """1-based number the answer cites as ``[index]``."""
    title: str
    text: str
    sentences: tuple[tuple[str, float], ...] = ()
    """The text's sentences with their relevance to the question, when retrieval scored them: the
    offline answerer quotes from these instead of encoding the text again."""
    answer_weight: float | None = None
    """How surely retrieval judged that this source, rather than the others, answers the question
    (its confidence model's passage weights; None: unknown): what the offline answerer weighs its
    sentences by."""


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
    scope: str | None = None
    """The knowledge base the sources come from: the offline answerer scores sentences with the
    encoder that serves it (each knowledge base may have its own)."""


@dataclass(frozen=True, slots=True)
class LLMMessage:
    """One message as sent to a provider (a stored chat message is ``backend.db.models.Message``)."""

    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Delta:
    text: str = ""
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class Generation:
    """What to generate: the packed messages (see backend/llm/prompting.py), the original prompt (for
    providers that work from passages directly, like the extractive one) and sampling options."""

    messages: list[LLMMessage]
    prompt: Prompt
    model: str = ""
    temperature: float = 0.2
    max_output_tokens: int = 700


class LLMProvider(Protocol):
    name: ClassVar[str]

    def stream(self, generation: Generation) -> AsyncGenerator[Delta, None]:
        """Yield the answer in pieces; cite sources with ``[n]`` markers. An async generator, so a
        caller that stops early closes the upstream request. Raise
        :class:`backend.errors.UpstreamError` (retryable for 429, 5xx and timeouts)."""
        ...
