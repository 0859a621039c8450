"""Self-supervised pairs from a knowledge base's own text, when nobody has labelled anything.

Independent cropping (Contriever, Izacard et al. 2022): two random spans of one passage are a
positive pair, spans of other passages are negatives. The encoder learns the vocabulary and
co-occurrences of the customer's domain, which is what an off-the-shelf encoder lacks on jargon.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from finetune.data.pairs import TrainingPair

MIN_WORDS = 16


def _span(words: list[str], rng: random.Random, low: float, high: float) -> str:
    length = max(4, round(len(words) * rng.uniform(low, high)))
    start = rng.randint(0, max(0, len(words) - length))
    return " ".join(words[start : start + length])


def cropped_pairs(
    passages: Sequence[str],
    *,
    pairs_per_passage: int = 1,
    ratio: tuple[float, float] = (0.1, 0.5),
    seed: int = 0,
) -> list[TrainingPair]:
    """Two independent crops of ``ratio`` (fraction of words) per pair; short passages are skipped."""
    rng = random.Random(seed)
    out = []
    for number, passage in enumerate(passages):
        words = passage.split()
        if len(words) < MIN_WORDS:
            continue
        for _ in range(pairs_per_passage):
            out.append(
                TrainingPair(_span(words, rng, *ratio), _span(words, rng, *ratio), doc_id=f"passage:{number}")
            )
    return out
