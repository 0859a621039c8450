"""In-batch negatives plus a MoCo queue: many negatives at a small batch size.

A support team's pair set fits in a few hundred CPU steps of 16–32 pairs; in-batch negatives then
show each query only 15–31 wrong passages. MoCo (He et al. 2020) keeps a queue of passage embeddings
from past batches, encoded by a slowly moving copy of the encoder so they stay consistent with the
current one, and uses them as extra negatives: a batch of 32 sees thousands of negatives.

The positives and in-batch passages still come from the trained encoder with gradients, so this is
MultipleNegativesRankingLoss with extra, gradient-free columns, which keeps the strong signal of
plain in-batch training when fine-tuning a pretrained encoder (a pure key-encoder MoCo would train
the passage side only through the momentum average).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.losses.merged_forward import embed_columns
from torch import Tensor, nn


class MoCoMultipleNegativesRankingLoss(nn.Module):
    queue: Tensor
    queue_ids: Tensor
    queue_ptr: Tensor
    queue_filled: Tensor
    """Buffers (register_buffer), declared so they type as tensors."""

    def __init__(
        self,
        model: SentenceTransformer,
        scale: float = 20.0,
        queue_size: int = 4096,
        momentum: float = 0.999,
    ) -> None:
        """
        Args:
            model: the SentenceTransformer being trained (the query encoder, with gradients).
            scale: inverse temperature applied to cosine similarities (20 = temperature 0.05).
            queue_size: how many past passage embeddings are kept as extra negatives.
            momentum: ``m`` in ``θ_key ← m·θ_key + (1 − m)·θ``, applied before every forward.
                0 makes the key encoder a copy of the current one at each step.

        References:
            - He et al., Momentum Contrast for Unsupervised Visual Representation Learning, CVPR 2020.
            - Izacard et al., Unsupervised Dense Information Retrieval with Contrastive Learning
              (Contriever), TMLR 2022: MoCo with independent cropping for text retrieval.

        Inputs:
            (anchor, positive) pairs or (anchor, positive, negative_1, …, negative_n) tuples; no labels.

        Relations:
            - Equals :class:`~sentence_transformers.losses.MultipleNegativesRankingLoss` while the queue
              is empty (the first step), and adds ``queue_size`` columns afterwards.
            - Queue entries identical to a current positive are masked, so a passage that recurs in
              the data is never its own negative.
        """
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be positive, got {queue_size}")
        self.model = model
        self.scale = scale
        self.queue_size = queue_size
        self.momentum = momentum
        # Kept outside the module tree (a list, not an attribute): the trainer must neither optimise
        # nor save it, and moving the loss to a device must not copy it twice.
        key_encoder = copy.deepcopy(model)
        key_encoder.requires_grad_(False)
        key_encoder.eval()
        self._key_encoder = [key_encoder]
        dim = model.get_embedding_dimension()
        if dim is None:
            raise ValueError(
                "the model does not say its embedding dimension; MoCo needs it to size the queue"
            )
        self.register_buffer("queue", torch.zeros(queue_size, dim), persistent=False)
        self.register_buffer("queue_ids", torch.full((queue_size,), -1, dtype=torch.long), persistent=False)
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long), persistent=False)
        self.register_buffer("queue_filled", torch.zeros((), dtype=torch.long), persistent=False)

    @property
    def key_encoder(self) -> SentenceTransformer:
        return self._key_encoder[0]

    @torch.no_grad()
    def momentum_update(self) -> None:
        """``θ_key ← m·θ_key + (1 − m)·θ`` for every parameter (buffers are copied)."""
        key = self.key_encoder
        if next(key.parameters()).device != next(self.model.parameters()).device:
            key.to(next(self.model.parameters()).device)
        for k, q in zip(key.parameters(), self.model.parameters(), strict=True):
            k.mul_(self.momentum).add_(q.detach(), alpha=1.0 - self.momentum)
        for kb, qb in zip(key.buffers(), self.model.buffers(), strict=True):
            kb.copy_(qb)

    @torch.no_grad()
    def enqueue(self, keys: Tensor, ids: Tensor) -> None:
        """Write ``keys`` (n, dim) into the ring buffer, oldest first out."""
        keys = keys[-self.queue_size :]
        ids = ids[-self.queue_size :]
        n = keys.size(0)
        positions = (self.queue_ptr + torch.arange(n, device=keys.device)) % self.queue_size
        self.queue[positions] = nn.functional.normalize(keys.to(self.queue.dtype), dim=-1)
        self.queue_ids[positions] = ids
        self.queue_ptr.copy_((self.queue_ptr + n) % self.queue_size)
        self.queue_filled.copy_(torch.clamp(self.queue_filled + n, max=self.queue_size))

    @staticmethod
    def text_ids(features: dict[str, Tensor]) -> Tensor:
        """A 63-bit fingerprint of each tokenised passage, to recognise the same passage in the queue."""
        input_ids = features["input_ids"].to(torch.long)
        mask = features.get("attention_mask", torch.ones_like(input_ids)).to(torch.long)
        weights = torch.arange(1, input_ids.size(1) + 1, device=input_ids.device, dtype=torch.long)
        mixed = (input_ids * mask * 1_000_003 + weights * 7_919) * (weights * 2 + 1)
        return (mixed.sum(dim=1) * 2_654_435_761) & ((1 << 62) - 1)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        embeddings = embed_columns(self.model, features)
        anchors = nn.functional.normalize(embeddings[0], dim=-1)  # (bs, dim)
        candidates = nn.functional.normalize(torch.cat(embeddings[1:]), dim=-1)  # (bs * (1 + n_neg), dim)
        scores = anchors @ candidates.T  # (bs, bs * (1 + n_neg))
        positive_ids = self.text_ids(features[1])  # (bs,)
        filled = int(self.queue_filled)
        if filled:
            queued = self.queue[:filled].clone()  # (filled, dim); cloned: the enqueue below writes in place
            queue_scores = anchors @ queued.T  # (bs, filled)
            same = positive_ids[:, None] == self.queue_ids[None, :filled]
            queue_scores = queue_scores.masked_fill(same, float("-inf"))
            scores = torch.cat([scores, queue_scores], dim=1)  # (bs, bs * (1 + n_neg) + filled)
        targets = torch.arange(anchors.size(0), device=anchors.device)
        loss = nn.functional.cross_entropy(scores * self.scale, targets)

        # Only the positives are queued: they are this batch's "keys"; mined negatives already had
        # their turn as explicit columns, and encoding them again would double the key encoder's cost.
        self.momentum_update()
        with torch.no_grad():
            keys = self.key_encoder(features[1])["sentence_embedding"]
            self.enqueue(keys, positive_ids)
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "queue_size": self.queue_size, "momentum": self.momentum}

    @property
    def citation(self) -> str:
        return """
@inproceedings{he2020moco,
    title={Momentum Contrast for Unsupervised Visual Representation Learning},
    author={He, Kaiming and Fan, Haoqi and Wu, Yuxin and Xie, Saining and Girshick, Ross},
    booktitle={CVPR},
    year={2020}
}
"""
