"""Group questions by meaning: exact phrasings first, then leader clustering on their embeddings.

Support questions repeat: most of 100k messages are a few thousand phrasings. So phrasings are
counted first (case, spacing and trailing punctuation folded), and only the distinct ones are
clustered, most asked first: each either joins the most similar leader at cosine ≥ ``threshold`` or
becomes a leader itself. A group is named by its most asked phrasing. Leaders are compared in blocks
with one matrix product per block, so the cost is (distinct phrasings × groups × dimension) flops,
and the result does not depend on the order rows came from the database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

BLOCK = 512
EXAMPLES = 5
_SPACES = re.compile(r"\s+")


def phrasing_key(text: str) -> str:
    return _SPACES.sub(" ", text).strip().rstrip("?!.。？！ ").casefold()


@dataclass(slots=True)
class Phrasing:
    text: str
    """The first wording seen (shown as an example)."""
    count: int
    last_asked: datetime
    representative: int
    """The question whose embedding stands for the phrasing: the first one that has one stored."""
    has_vector: bool
    members: list[int] = field(default_factory=list)
    """Indices of the questions with this phrasing, in the caller's list."""
    vector: np.ndarray | None = None


@dataclass(slots=True)
class Group:
    label: str
    count: int
    last_asked: datetime
    examples: list[str]
    members: list[int]


def phrasings(texts: Sequence[str], times: Sequence[datetime], has_vector: Sequence[bool]) -> list[Phrasing]:
    """Distinct phrasings, most asked first (ties: most recent, then alphabetical). The caller then
    sets each one's ``vector`` from its representative: one embedding per phrasing is read, not one
    per question."""
    by_key: dict[str, Phrasing] = {}
    for i, (text, when, stored) in enumerate(zip(texts, times, has_vector, strict=True)):
        key = phrasing_key(text)
        seen = by_key.get(key)
        if seen is None:
            seen = by_key[key] = Phrasing(text.strip(), 0, when, i, stored)
        elif stored and not seen.has_vector:
            seen.representative, seen.has_vector = i, True
        seen.count += 1
        seen.members.append(i)
        if when > seen.last_asked:
            seen.last_asked = when
    return sorted(by_key.values(), key=lambda p: (-p.count, -p.last_asked.timestamp(), p.text))


def group(items: list[Phrasing], threshold: float) -> list[Group]:
    """Leader clustering of ``items`` (most asked first); groups sorted by total count."""
    leaders: list[int] = []
    leader_vectors = np.zeros((0, 0), dtype=np.float32)
    owner = [-1] * len(items)
    embedded = [i for i, p in enumerate(items) if p.vector is not None]
    for start in range(0, len(embedded), BLOCK):
        block = embedded[start : start + BLOCK]
        vectors = np.stack([v for i in block if (v := items[i].vector) is not None]).astype(np.float32)
        if leaders:
            sims = vectors @ leader_vectors.T
            best = sims.argmax(axis=1)
            for row, i in enumerate(block):
                if sims[row, best[row]] >= threshold:
                    owner[i] = leaders[best[row]]
        # The rest lead or join a leader made earlier in this same block.
        new: list[int] = []
        inner = vectors @ vectors.T
        for row, i in enumerate(block):
            if owner[i] != -1:
                continue
            if new:
                candidates = inner[row, new]
                j = int(candidates.argmax())
                if candidates[j] >= threshold:
                    owner[i] = block[new[j]]
                    continue
            owner[i] = i
            new.append(row)
        if new:
            fresh = vectors[new]
            leader_vectors = fresh if not leaders else np.vstack([leader_vectors, fresh])
            leaders.extend(block[r] for r in new)
    owner = [i if lead == -1 else lead for i, lead in enumerate(owner)]  # no vector: its own group
    members: dict[int, list[int]] = {}
    for i, lead in enumerate(owner):
        members.setdefault(lead, []).append(i)
    groups = []
    for lead, parts in members.items():
        ordered = sorted(parts, key=lambda i: (-items[i].count, i))
        groups.append(
            Group(
                label=items[lead].text,
                count=sum(items[i].count for i in parts),
                last_asked=max(items[i].last_asked for i in parts),
                examples=[items[i].text for i in ordered[:EXAMPLES]],
                members=[m for i in ordered for m in items[i].members],
            )
        )
    groups.sort(key=lambda g: (-g.count, -g.last_asked.timestamp(), g.label))
    return groups
