"""Keyword search's half of an index: text → per-language terms → BM25 sparse vectors, versioned."""

from backend.keywords.encoder import CURRENT, LEGACY, LexicalEncoder, index_id, keyword_encoder

__all__ = ["CURRENT", "LEGACY", "LexicalEncoder", "index_id", "keyword_encoder"]
