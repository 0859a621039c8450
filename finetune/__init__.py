"""Contrastive fine-tuning of the encoder: pair datasets, losses, training, evaluation, re-indexing."""
