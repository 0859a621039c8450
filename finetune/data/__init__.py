"""Training data: pairs (uploaded, BEIR, harvested from liked chats, or cropped from the KB's text)."""

from finetune.data.pairs import RetrievalSet, TrainingPair, data_hash, split_by_document

__all__ = ["RetrievalSet", "TrainingPair", "data_hash", "split_by_document"]
