"""Finding passages by meaning (dense), by words (sparse BM25) or both (hybrid fusion)."""

from backend.retrieval.config import RetrievalSettings
from backend.retrieval.search import Passage, Retriever, SearchResult

__all__ = ["Passage", "RetrievalSettings", "Retriever", "SearchResult"]
