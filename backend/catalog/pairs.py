"""A training pair as it arrives (``POST …/finetune`` bodies, ``kbchat finetune --pairs`` lines).

One validated shape for both doors, so a pair the API accepts is a pair the CLI accepts, with the same
bounds. Inside fine-tuning it becomes ``finetune.data.pairs.TrainingPair`` (plain, immutable).
A *judged* pair for ``tune`` names its answer differently (by document, source or text):
``backend.catalog.tuning.Pair``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrainingPairIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    query: str = Field(min_length=1, max_length=4000)
    positive: str = Field(min_length=1, max_length=50_000)
    negatives: list[str] = Field(default_factory=list, max_length=64)
    doc_id: str | None = Field(default=None, max_length=500)
    """What answers the query; pairs with the same ``doc_id`` stay on the same side of the split."""
