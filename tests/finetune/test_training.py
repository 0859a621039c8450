"""A short real training run on a tiny dataset improves the metric it trains for, with every loss."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer

from finetune.data.pairs import TrainingPair, retrieval_set
from finetune.evaluation import evaluate
from finetune.training import TrainConfig, train

NICKNAMES = [
    "blue lagoon",
    "red kite",
    "quiet fox",
    "paper moon",
    "iron gate",
    "glass owl",
    "cold river",
    "green arch",
]
FIXES = [
    "Clear the print spooler, then restart the label printer.",
    "Rotate the API key and redeploy the webhook receiver.",
    "Rebuild the search index from the admin console.",
    "Re-run the nightly export with the --full flag.",
    "Raise the connection pool limit of the billing database.",
    "Renew the TLS certificate of the customer portal.",
    "Purge the CDN cache for the pricing pages.",
    "Reset the SSO integration and re-invite the admins.",
]
PAIRS = [
    TrainingPair(f"{template.format(nick)}", fix, doc_id=str(i))
    for i, (nick, fix) in enumerate(zip(NICKNAMES, FIXES, strict=True))
    for template in ("what do we do about the {} incident", "{} runbook", "fix for {}")
]


@pytest.mark.slow  # real training
@pytest.mark.parametrize("loss", ["mnrl", "moco"])  # "cached" equals "mnrl" (test_losses.py)
def test_training_improves_what_it_trains_for(fresh_model: SentenceTransformer, loss: str) -> None:
    data = retrieval_set(PAIRS)
    before = evaluate(fresh_model, data)
    config = TrainConfig(
        loss=loss, batch_size=8, learning_rate=2e-4, max_steps=10, warmup_ratio=0.0, queue_size=32
    )
    result = train(fresh_model, PAIRS, config)
    after = evaluate(fresh_model, data)
    assert result.steps == 10 and result.losses and result.seconds > 0
    assert after["mrr@10"] > before["mrr@10"] + 0.1, (before, after)
