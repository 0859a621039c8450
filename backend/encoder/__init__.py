"""Text encoders behind the :class:`Embedder` seam."""

from backend.encoder.base import Embedder, Tokenizer
from backend.encoder.sentence_transformer import SentenceTransformerEmbedder, resolve_model_path

__all__ = ["Embedder", "SentenceTransformerEmbedder", "Tokenizer", "resolve_model_path"]
