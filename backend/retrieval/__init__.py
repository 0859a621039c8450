"""Finding passages by meaning (dense), by words (sparse BM25) or both (hybrid fusion)."""

from backend.retrieval.config import RetrievalSettings
from backend.retrieval.passages import Passage, SearchResult
from backend.retrieval.search import Retriever

__all__ = ["Passage", "RetrievalSettings", "Retriever", "SearchResult"]
