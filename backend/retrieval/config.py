"""How a knowledge base searches: mode, fusion weights, thresholds. Stored per KB, overridable per request.

Defaults were chosen on the two benchmark sets (docs/benchmarks.md): hybrid fusion with a dense
weight of 2 is at least as good as the better single mode on both; ``kbchat tune`` fits them to a
knowledge base's own question–passage pairs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from backend.vectorstore.base import Fusion, SearchMode


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: SearchMode = SearchMode.HYBRID
    fusion_k: int = Field(default=60, ge=1, le=1000, description="RRF k: higher flattens rank differences.")
    dense_weight: float = Field(default=2.0, gt=0, le=100, description="Weight of the dense list in fusion.")
    sparse_weight: float = Field(
        default=1.0, gt=0, le=100, description="Weight of the keyword list in fusion."
    )
    min_relevance: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="Drop passages whose dense cosine to the query is lower (applied after fusion).",
    )
    collapse_threshold: float | None = Field(
        default=0.97,
        ge=0.5,
        le=1.0,
        description="Passages this similar (cosine) to a better-ranked one are collapsed. Empty: off.",
    )
    neighbours: int = Field(
        default=0, ge=0, le=3, description="Adjacent chunks added to each hit as context."
    )

    @property
    def fusion(self) -> Fusion:
        return Fusion(k=self.fusion_k, dense_weight=self.dense_weight, sparse_weight=self.sparse_weight)
