"""A BEIR-layout dataset: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

Read by the retrieval evaluator (``kbchat eval``, in ingest) and by fine-tuning (finetune), so it lives
here, below both: ingest and finetune depend on backend, never on each other.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
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
    languages: dict[str, str] = field(default_factory=dict)
    """Query id → language, when the queries say (a ``lang`` field, or an id like ``de-0042``); empty
    when they do not, or when they are all in one language."""


_LANG_PREFIX = re.compile(r"^([a-z]{2}(?:-[a-z]{2})?)-\w+$")


def query_languages(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each query's language from its ``lang`` field, else its id's prefix; {} unless every query has
    one and there are at least two, so a one-language set reports as it always did."""
    found: dict[str, str] = {}
    for row in rows:
        lang = row.get("lang")
        if not isinstance(lang, str) or not lang:
            match = _LANG_PREFIX.match(str(row.get("_id", "")))
            if match is None:
                return {}
            lang = match.group(1)
        found[str(row["_id"])] = lang[:16]
    return found if len(set(found.values())) > 1 else {}


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
    query_rows = _jsonl(folder / "queries.jsonl")
    queries = {q["_id"]: q["text"] for q in query_rows}
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
    languages = query_languages(query_rows)
    return BeirDataset(
        folder.name,
        corpus,
        {q: queries[q] for q in qrels},
        dict(qrels),
        {q: lang for q, lang in languages.items() if q in qrels},
    )
