"""The offline answerer: quotes the sentences of the retrieved passages that best answer the question.

No model to download and no network: the service answers out of the box. Sentences are scored by
the encoder (cosine to the question, via the ``score`` callable handed in) and kept in source order,
each followed by the ``[n]`` of the passage it came from, so every claim is cited.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import ClassVar

from backend.llm.base import Delta, Generation, Prompt, Source

NOTHING_FOUND = (
    "I couldn't find anything about that in this knowledge base. "
    "Try rephrasing the question, or add a document that covers it."
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
MIN_SENTENCE_CHARS = 12

ScoreFn = Callable[[str, Sequence[str], str | None], Sequence[float]]
"""``(question, sentences, scope)`` → cosine per sentence, with the encoder of ``scope``'s knowledge base."""


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) >= MIN_SENTENCE_CHARS]


class ExtractiveProvider:
    name: ClassVar[str] = "extractive"

    def __init__(
        self, score: ScoreFn, *, max_sentences: int = 3, per_source: int = 2, relative_floor: float = 0.75
    ) -> None:
        self.score = score
        self.max_sentences = max_sentences
        self.per_source = per_source
        self.relative_floor = relative_floor

    def compose(self, prompt: Prompt) -> str:
        if not prompt.sources:
            return NOTHING_FOUND
        candidates: list[tuple[Source, int, str]] = []
        for source in prompt.sources:
            sentences = split_sentences(source.text) or [source.text.strip()]
            candidates.extend((source, position, s) for position, s in enumerate(sentences))
        scores = self.score(prompt.question, [c[2] for c in candidates], prompt.scope)
        ranked = sorted(range(len(candidates)), key=lambda i: scores[i], reverse=True)
        best = scores[ranked[0]]
        chosen: list[int] = []
        per_source: dict[int, int] = {}
        for i in ranked:
            source = candidates[i][0]
            if len(chosen) == self.max_sentences or scores[i] < best * self.relative_floor:
                break
            if per_source.get(source.index, 0) < self.per_source:
                chosen.append(i)
                per_source[source.index] = per_source.get(source.index, 0) + 1
        chosen.sort(key=lambda i: (candidates[i][0].index, candidates[i][1]))
        return " ".join(f"{candidates[i][2]} [{candidates[i][0].index}]" for i in chosen)

    async def stream(self, generation: Generation) -> AsyncIterator[Delta]:
        answer = self.compose(generation.prompt)
        for piece in re.split(r"(?<= )", answer):
            yield Delta(text=piece)
