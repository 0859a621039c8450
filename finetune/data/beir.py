"""Training pairs and retrieval sets from a BEIR-layout folder (``qrels/train.tsv`` to train on)."""

from __future__ import annotations

from pathlib import Path

from backend.retrieval.beir import BeirDataset, load_beir
from finetune.data.pairs import RetrievalSet, TrainingPair


def document_text(row: dict[str, str]) -> str:
    """``title`` and ``text`` as the raw-encoder baseline encodes them (ingest/evaluation/baselines.py)."""
    return f"{row.get('title') or ''}\n{row['text']}".strip()


def beir_pairs(dataset: BeirDataset) -> list[TrainingPair]:
    texts = {row["_id"]: document_text(row) for row in dataset.corpus}
    return [
        TrainingPair(dataset.queries[qid], texts[cid], doc_id=cid)
        for qid, judged in dataset.qrels.items()
        for cid, grade in judged.items()
        if grade > 0 and cid in texts
    ]


def beir_retrieval_set(dataset: BeirDataset) -> RetrievalSet:
    return RetrievalSet(
        corpus={row["_id"]: document_text(row) for row in dataset.corpus},
        queries=dict(dataset.queries),
        relevant={q: dict(r) for q, r in dataset.qrels.items()},
    )


def load_beir_split(folder: Path, split: str) -> tuple[list[TrainingPair], RetrievalSet]:
    dataset = load_beir(folder, split)
    return beir_pairs(dataset), beir_retrieval_set(dataset)
