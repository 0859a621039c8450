"""Splitting parsed documents into passages the encoder can read whole."""

from ingest.chunking.chunker import Chunk, Chunker, heading_prefix

__all__ = ["Chunk", "Chunker", "heading_prefix"]
