"""The offline answerer: quotes the sentences of the retrieved passages that best answer the question.

No model to download and no network: the service answers out of the box. A sentence is worth quoting
when it is close to the question *and* its passage answers it: its cosine to the question (the scores
retrieval already computed, :attr:`Source.sentences`, so nothing is encoded twice; a source without
them is scored through the ``score`` callable) times how surely its passage answers
(:attr:`Source.answer_weight`). Ranking by
cosine alone quoted a sentence from a wrong passage in 7 answers of 10 on the shared FAQ sets; the
product, in 3 (docs/benchmarks.md). The chosen sentences keep their source order, each followed by
the ``[n]`` of its passage, so every claim is cited, and the whole answer stays within ``max_chars``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import ClassVar

from backend.llm.base import Delta, Generation, Prompt, Source
from backend.text.sentences import split_sentences

NOTHING_FOUND = (
    "I couldn't find anything about that in this knowledge base. "
    "Try rephrasing the question, or add a document that covers it."
)

ScoreFn = Callable[[str, Sequence[str], str | None], Sequence[float]]
"""``(question, sentences, scope)`` → cosine per sentence, with the encoder of ``scope``'s knowledge base."""

__all__ = ["NOTHING_FOUND", "ExtractiveProvider", "ScoreFn"]


class ExtractiveProvider:
    name: ClassVar[str] = "extractive"

    def __init__(
        self,
        score: ScoreFn,
        *,
        max_sentences: int = 3,
        per_source: int = 2,
        relative_floor: float = 0.75,
        max_chars: int = 700,
    ) -> None:
        self.score = score
        self.max_sentences = max_sentences
        self.per_source = per_source
        self.relative_floor = relative_floor
        self.max_chars = max_chars

    def _scored(self, prompt: Prompt) -> list[tuple[Source, int, str, float]]:
        """(source, position, sentence, score) for every sentence of every source."""
        out: list[tuple[Source, int, str, float]] = []
        unscored: list[tuple[Source, int, str]] = []
        for source in prompt.sources:
            weight = 1.0 if source.answer_weight is None else source.answer_weight
            if source.sentences:
                out.extend((source, i, text, cos * weight) for i, (text, cos) in enumerate(source.sentences))
            else:
                unscored.extend((source, i, t) for i, t in enumerate(split_sentences(source.text)))
        if unscored:
            scores = self.score(prompt.question, [u[2] for u in unscored], prompt.scope)
            for (source, i, text), cos in zip(unscored, scores, strict=True):
                weight = 1.0 if source.answer_weight is None else source.answer_weight
                out.append((source, i, text, float(cos) * weight))
        return out

    def compose(self, prompt: Prompt) -> str:
        candidates = self._scored(prompt) if prompt.sources else []
        if not candidates:
            return NOTHING_FOUND
        ranked = sorted(candidates, key=lambda c: (-c[3], c[0].index, c[1]))
        best = ranked[0][3]
        chosen: list[tuple[Source, int, str, float]] = []
        per_source: dict[int, int] = {}
        used = 0
        for candidate in ranked:
            source, _, text, score = candidate
            if len(chosen) == self.max_sentences or score < best * self.relative_floor:
                break
            cost = len(text) + len(f" [{source.index}] ")
            full = per_source.get(source.index, 0) >= self.per_source
            if full or (chosen and used + cost > self.max_chars):
                continue
            chosen.append(candidate)
            per_source[source.index] = per_source.get(source.index, 0) + 1
            used += cost
        chosen.sort(key=lambda c: (c[0].index, c[1]))
        return " ".join(f"{text} [{source.index}]" for source, _, text, _ in chosen)

    async def stream(self, generation: Generation) -> AsyncGenerator[Delta, None]:
        answer = self.compose(generation.prompt)
        for piece in re.split(r"(?<= )", answer):
            yield Delta(text=piece)
