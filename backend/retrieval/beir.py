"""A BEIR-layout dataset: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

Read by the retrieval evaluator (``kbchat eval``, in ingest) and by fine-tuning (finetune), so it lives
here, below both: ingest and finetune depend on backend, never on each other.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class BeirDataset:
    name: str
    corpus: list[dict[str, str]]
    """Rows with ``_id``, ``title``, ``text``."""
    queries: dict[str, str]
    """Query id → text, only those judged in the split."""
    qrels: dict[str, dict[str, int]]
    """Query id → {corpus id: grade}."""


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InvalidInput(
            f"{path} is missing; a BEIR dataset folder holds corpus.jsonl, queries.jsonl, qrels/"
        )
    with path.open(encoding="utf-8") as f:
        try:
            return [json.loads(line) for line in f if line.strip()]
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}: line {exc.lineno} is not JSON ({exc.msg})") from exc


def load_beir(folder: Path, split: str = "test") -> BeirDataset:
    corpus = _jsonl(folder / "corpus.jsonl")
    queries = {q["_id"]: q["text"] for q in _jsonl(folder / "queries.jsonl")}
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        available = (
            sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        )
        raise InvalidInput(
            f"no qrels for split {split!r} in {folder}; available: {', '.join(available) or 'none'}"
        )
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with qrels_path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise InvalidInput(f"{len(missing)} judged queries are not in queries.jsonl (first: {missing[0]!r})")
    return BeirDataset(folder.name, corpus, {q: queries[q] for q in qrels}, dict(qrels))
