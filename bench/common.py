"""Shared helpers for the benchmarks: BEIR data from ../shared/data, percentiles, a scratch service."""

from __future__ import annotations

import csv
import json
import os
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_corpus(name: str, limit: int | None = None) -> list[dict]:
    with open(DATA / name / "corpus.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return rows[:limit] if limit else rows


def load_queries(name: str, split: str = "test") -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """(query id → text, query id → {corpus id: relevance}) for ``split``."""
    with open(DATA / name / "queries.jsonl", encoding="utf-8") as f:
        texts = {q["_id"]: q["text"] for q in map(json.loads, f)}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(DATA / name / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    return {q: texts[q] for q in qrels}, dict(qrels)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> str:
    return f"p50 {statistics.median(values_ms):7.2f} ms   p95 {percentile(values_ms, 95):7.2f} ms"


def scratch_settings(**overrides: object):
    from backend.settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="kbchat-bench-"))
    return Settings(data_dir=data_dir, admin_token="bench-token-0123456789", **overrides)  # type: ignore[arg-type]


def document_text(row: dict) -> tuple[str | None, str]:
    """(title, body) of a corpus row; no title when the row has none (an id is not one: the encoder
    would read it as every passage's context)."""
    return row.get("title") or None, row["text"]
