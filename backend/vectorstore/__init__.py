"""Vector storage behind the :class:`VectorStore` seam."""

from backend.vectorstore.base import ChunkRecord, Hit, SearchMode, SparseVector, VectorStore
from backend.vectorstore.ids import point_id

__all__ = ["ChunkRecord", "Hit", "SearchMode", "SparseVector", "VectorStore", "point_id"]
