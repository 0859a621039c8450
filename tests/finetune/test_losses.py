"""The losses: the cached (GradCache) loss equals the plain one in value and gradients, and the MoCo
loss's queue and momentum update behave as specified."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer

from finetune.losses import MoCoMultipleNegativesRankingLoss
from finetune.training import TrainConfig, make_loss

QUERIES = ["how do I reset my password", "when are invoices sent", "how long do refunds take", "what is 2FA"]
PASSAGES = [
    "Use the Forgot password link on the sign-in page.",
    "Invoices are emailed on the first business day of the month.",
    "Refunds reach your card within five business days.",
    "Two-factor authentication adds a second step to sign-in.",
]


def _features(model: SentenceTransformer, *columns: list[str]) -> list[dict[str, torch.Tensor]]:
    return [model.tokenize(texts) for texts in columns]


def _loss_and_grads(
    model: SentenceTransformer, loss: torch.nn.Module
) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad()
    value = loss(_features(model, QUERIES, PASSAGES), None)
    value.backward()
    value = value.detach()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(value), grads


@pytest.mark.parametrize("symmetric", [False, True])
def test_cached_loss_equals_the_plain_loss(fresh_model: SentenceTransformer, symmetric: bool) -> None:
    fresh_model.eval()  # no dropout: both passes must see the same network
    plain_value, plain_grads = _loss_and_grads(
        fresh_model, make_loss(fresh_model, TrainConfig(symmetric=symmetric, scale=5.0))
    )
    # A low scale keeps the loss far from 0, so the comparison measures something.
    cached = make_loss(
        fresh_model, TrainConfig(loss="cached", mini_batch_size=1, symmetric=symmetric, scale=5.0)
    )
    cached_value, cached_grads = _loss_and_grads(fresh_model, cached)
    assert plain_value > 0.1
    assert cached_value == pytest.approx(plain_value, rel=1e-4)
    assert plain_grads.keys() == cached_grads.keys() and len(plain_grads) > 10
    for name, grad in plain_grads.items():
        torch.testing.assert_close(cached_grads[name], grad, rtol=1e-3, atol=1e-5, msg=name)


def test_moco_equals_in_batch_loss_while_its_queue_is_empty(fresh_model: SentenceTransformer) -> None:
    fresh_model.eval()
    plain_value, plain_grads = _loss_and_grads(fresh_model, make_loss(fresh_model, TrainConfig(scale=5.0)))
    moco = MoCoMultipleNegativesRankingLoss(fresh_model, queue_size=8, scale=5.0)
    moco_value, moco_grads = _loss_and_grads(fresh_model, moco)
    assert moco_value == pytest.approx(plain_value, rel=1e-5)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(moco_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    # That first step queued this batch's passages, as the key encoder embeds them.
    assert int(moco.queue_filled) == len(PASSAGES) and int(moco.queue_ptr) == len(PASSAGES)
    keys = moco.key_encoder.encode(PASSAGES, convert_to_tensor=True, normalize_embeddings=True)
    torch.testing.assert_close(moco.queue[: len(PASSAGES)], keys, rtol=1e-4, atol=1e-5)
    # Second step: each query now also meets the queued passages, except its own positive (masked).
    second, _ = _loss_and_grads(fresh_model, moco)
    q = fresh_model.encode(QUERIES, convert_to_tensor=True, normalize_embeddings=True)
    scores = 5.0 * q @ keys.T  # in-batch and queued columns are the same passages here
    own = torch.eye(len(QUERIES), dtype=torch.bool)
    denominator = scores.exp().sum(1) + scores.masked_fill(own, float("-inf")).exp().sum(1)
    expected = float((denominator.log() - scores.diagonal()).mean())
    assert second == pytest.approx(expected, rel=1e-3) and second > plain_value


def test_moco_queue_is_a_ring_with_the_oldest_overwritten_first(fresh_model: SentenceTransformer) -> None:
    moco = MoCoMultipleNegativesRankingLoss(fresh_model, queue_size=5)
    dim = fresh_model.get_embedding_dimension()
    batches = [torch.eye(dim)[i * 3 : i * 3 + 3] for i in range(3)]  # 9 distinct unit keys, 3 per batch
    for number, keys in enumerate(batches):
        moco.enqueue(keys, torch.arange(number * 3, number * 3 + 3))
    # 9 keys into 5 slots, written at positions 0,1,2 | 3,4,0 | 1,2,3 → ids by slot: [5, 6, 7, 8, 4]
    assert moco.queue_ids.tolist() == [5, 6, 7, 8, 4]
    assert int(moco.queue_ptr) == 4 and int(moco.queue_filled) == 5
    assert torch.equal(moco.queue[0], torch.eye(dim)[5]) and torch.equal(moco.queue[4], torch.eye(dim)[4])


def test_momentum_update_moves_the_key_encoder_by_one_minus_m(fresh_model: SentenceTransformer) -> None:
    moco = MoCoMultipleNegativesRankingLoss(fresh_model, momentum=0.9)
    key_before = [p.detach().clone() for p in moco.key_encoder.parameters()]
    with torch.no_grad():
        for p in fresh_model.parameters():
            p.add_(1.0)  # the trained encoder moved by +1 everywhere
    moco.momentum_update()
    for before, after in zip(key_before, moco.key_encoder.parameters(), strict=True):
        torch.testing.assert_close(after, before + 0.1, rtol=0, atol=1e-5)  # 0.9·k + 0.1·(k + 1)
    assert not any(p.requires_grad for p in moco.key_encoder.parameters())
    assert all(p is not q for p, q in zip(moco.parameters(), moco.key_encoder.parameters(), strict=False))
    with pytest.raises(ValueError, match="momentum"):
        MoCoMultipleNegativesRankingLoss(fresh_model, momentum=1.0)
