"""Question–passage pairs, the held-out split and the retrieval sets they are measured on.

The split is by document, never by pair: when two questions share an answer, both go to the same
side, so no held-out passage was seen in training and the measured gain is a real one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from backend.catalog.pairs import TrainingPairIn
from backend.errors import InvalidInput

MAX_PAIRS = 200_000


@dataclass(frozen=True, slots=True)
class TrainingPair:
    query: str
    positive: str
    negatives: tuple[str, ...] = ()
    doc_id: str | None = None
    """What answers the query; pairs with the same ``doc_id`` stay on the same side of the split."""

    @property
    def group(self) -> str:
        return self.doc_id or "text:" + hashlib.sha256(self.positive.encode()).hexdigest()[:24]


@dataclass
class RetrievalSet:
    """What an encoder is measured on: rank ``corpus`` for each query, judged by ``relevant``."""

    corpus: dict[str, str]
    queries: dict[str, str]
    relevant: dict[str, dict[str, int]] = field(default_factory=dict)


def parse_pairs_jsonl(lines: Iterable[str]) -> list[TrainingPair]:
    """One JSON object per line: ``{"query", "positive", "negatives"?, "doc_id"?}``."""
    pairs: list[TrainingPair] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = TrainingPairIn.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"pairs line {number} is not JSON ({exc.msg})") from None
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(map(str, problem["loc"])) or "line"
            raise InvalidInput(
                f"pairs line {number}: {where}: {problem['msg']}. Each line needs "
                '{"query": ..., "positive": ...} and may add "negatives": [...] and "doc_id"'
            ) from None
        pairs.append(TrainingPair(row.query, row.positive, tuple(n for n in row.negatives if n), row.doc_id))
        if len(pairs) > MAX_PAIRS:
            raise InvalidInput(f"more than {MAX_PAIRS:,} pairs; split the file")
    if not pairs:
        raise InvalidInput('no pairs found; write one JSON object per line: {"query": ..., "positive": ...}')
    return pairs


def split_by_document(
    pairs: Sequence[TrainingPair], *, eval_fraction: float = 0.2, seed: int = 0
) -> tuple[list[TrainingPair], list[TrainingPair]]:
    """(train, held out): whole documents go to one side, chosen by a seeded hash (stable across runs
    and machines, unlike ``random`` with a changed pair order)."""
    if not 0.0 < eval_fraction < 1.0:
        raise InvalidInput(f"eval_fraction must be between 0 and 1, got {eval_fraction}")
    groups = sorted(
        {p.group for p in pairs}, key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest()
    )
    if len(groups) < 2:
        raise InvalidInput("all pairs answer from one document; pairs from at least two documents are needed")
    n_eval = min(len(groups) - 1, max(1, round(len(groups) * eval_fraction)))
    held = set(groups[:n_eval])
    return [p for p in pairs if p.group not in held], [p for p in pairs if p.group in held]


def retrieval_set(held_out: Sequence[TrainingPair], corpus: dict[str, str] | None = None) -> RetrievalSet:
    """Held-out pairs as a retrieval task over ``corpus`` (the knowledge base's passages): each positive
    joins the corpus (once), and corpus entries with exactly its text count as relevant too."""
    texts = dict(corpus or {})
    by_text: dict[str, list[str]] = {}
    for cid, text in texts.items():
        by_text.setdefault(text, []).append(cid)
    result = RetrievalSet(corpus=texts, queries={})
    for i, pair in enumerate(held_out):
        ids = by_text.get(pair.positive)
        if not ids:
            ids = ["pos:" + hashlib.sha256(pair.positive.encode()).hexdigest()[:24]]
            texts[ids[0]] = pair.positive
            by_text[pair.positive] = ids
        qid = f"q{i}"
        result.queries[qid] = pair.query
        result.relevant[qid] = dict.fromkeys(ids, 1)
    return result


def data_hash(pairs: Sequence[TrainingPair]) -> str:
    """Order-independent fingerprint of a training set (recorded with every encoder version)."""
    digest = hashlib.sha256()
    for line in sorted(json.dumps([p.query, p.positive, list(p.negatives), p.doc_id]) for p in pairs):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()
