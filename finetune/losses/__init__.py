"""Training losses beyond sentence-transformers' own (which are used as they are)."""

from finetune.losses.moco import MoCoMultipleNegativesRankingLoss

__all__ = ["MoCoMultipleNegativesRankingLoss"]
