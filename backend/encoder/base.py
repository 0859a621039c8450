"""The encoder seam: what retrieval, ingestion and fine-tuning need from a text encoder.

Vectors are L2-normalised float32, so a dot product is the cosine similarity and scores
from different queries are comparable (the chat's "nothing relevant" threshold relies on it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np


@runtime_checkable
class Tokenizer(Protocol):
    """The encoder's own tokenizer, so chunks are cut to exactly what the model will see."""

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span ``(start, end)`` of every token of ``text``, special tokens excluded."""
        ...


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    """Stable identity of the weights (name + content fingerprint): vectors of different ids never mix."""
    dimension: int
    max_tokens: int
    """Longest input, in tokens and special tokens excluded, that the model reads without truncation."""
    tokenizer: Tokenizer

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dimension)`` normalised float32 vectors for passages."""
        ...

    def embed_queries(self, texts: Sequence[str], *, scope: str | None = None) -> np.ndarray:
        """``(len(texts), dimension)`` normalised float32 vectors for search queries. ``scope``: who
        asks (a knowledge base's id). An embedder that caches questions keeps each scope's apart, so a
        tenant cannot tell from a fast answer that another tenant asked the same words."""
        ...


T = TypeVar("T")


def for_encoder(table: Mapping[str, T], model_id: str | None, default: T) -> T:
    """The value ``table`` holds for the encoder ``model_id`` (keys: how model ids start), else ``default``.

    One lookup for every per-encoder constant (the shipped confidence fit, the analytics grouping cut):
    a cosine means different things to different encoders."""
    return next((value for prefix, value in table.items() if (model_id or "").startswith(prefix)), default)
