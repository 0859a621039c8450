"""What one search, chat turn, ingestion batch or training run works with: an encoder, the keyword
analysis, and the collection built with both.

A snapshot is immutable and taken once per operation, so an operation that started before a knowledge
base switched encoders finishes on the pair it started with: a query vector only ever meets vectors
of the model that made it, and query terms only terms of the same analysis (backend/serving/router.py
hands snapshots out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from backend.encoder.base import Embedder
from backend.keywords import CURRENT, LexicalEncoder, keyword_encoder
from backend.vectorstore.base import VectorStore

BASE = "base"
"""The name of the configured ``KBCHAT_ENCODER__MODEL`` wherever a version name is expected."""


@dataclass(frozen=True, slots=True)
class EncoderSnapshot:
    version_id: str | None
    """The registered version (None: the base model)."""
    name: str
    """The version's name, or ``base``."""
    embedder: Embedder
    vectors: VectorStore
    """The collection holding this encoder's vectors, shared by every knowledge base it serves."""
    relevance_threshold: float | None = None
    """Dense cosine under which a passage counts as unrelated, measured for this version when it was
    trained (None: use the configured default, which was tuned for the base model)."""
    confidence_threshold: float | None = None
    """Best-passage cosine under which analytics count an answer as unsure, calibrated likewise."""
    keywords: LexicalEncoder = field(default_factory=lambda: keyword_encoder(CURRENT))
    """The keyword analysis ``vectors``' sparse vectors were made with (a collection holds one)."""

    @property
    def model_id(self) -> str:
        return self.embedder.model_id


def single(
    embedder: Embedder, vectors: VectorStore, keywords: LexicalEncoder | None = None
) -> Callable[[str], EncoderSnapshot]:
    """One encoder and collection for every knowledge base: for a Retriever over one collection
    (benchmarks, evaluation on a dataset); the service resolves per knowledge base instead."""
    snapshot = EncoderSnapshot(None, BASE, embedder, vectors, keywords=keywords or keyword_encoder(CURRENT))
    return lambda _kb_id: snapshot
