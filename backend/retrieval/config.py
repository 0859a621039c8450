"""How a knowledge base searches: mode, fusion weights, thresholds. Stored per KB, overridable per request.

Defaults were chosen on the TRAIN splits of the two benchmark sets (docs/benchmarks.md): convex
fusion with alpha 0.6 and the best-sentence re-rank at 0.5 beat the better single mode on both, by the
widest worst-case margin of the grid run through the real search path (``bench/search_grid.py``:
python-faq +0.012, manpages +0.016); ``kbchat tune`` fits the settings to a knowledge base's own
question–passage pairs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.retrieval.confidence import ConfidenceModel
from backend.vectorstore.base import Fusion, SearchMode


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: SearchMode = SearchMode.HYBRID
    fusion: Literal["convex", "rrf"] = Field(
        default="convex",
        description="convex: weighted sum of normalised scores (alpha); rrf: Qdrant's weighted rank fusion.",
    )
    alpha: float = Field(
        default=0.6, ge=0, le=1, description="convex: weight of the dense score (1 - alpha: keyword)."
    )
    fusion_k: int = Field(default=2, ge=1, le=1000, description="rrf: k; higher flattens rank differences.")
    dense_weight: float = Field(default=1.0, gt=0, le=100, description="rrf: weight of the dense list.")
    sparse_weight: float = Field(default=1.0, gt=0, le=100, description="rrf: weight of the keyword list.")
    min_relevance: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="Drop passages whose dense cosine to the query is lower (applied after fusion).",
    )
    min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "Drop passages whose calibrated confidence is lower. Chat's no-answer cut: empty means the "
            "calibration's own threshold."
        ),
    )
    calibration: ConfidenceModel | None = Field(
        default=None,
        description="This knowledge base's confidence model, fitted by `kbchat tune` (empty: shipped).",
    )
    collapse_threshold: float | None = Field(
        # Copies only (a paragraph pasted into several documents scores ≥ 0.995). At 0.97 it also merged
        # distinct documents that read alike (man pages of sibling commands), dropping the one asked for:
        # -0.009 nDCG@10 on manpages train in dense mode, -0.010 hybrid; at 0.995, -0.001 and -0.001.
        default=0.995,
        ge=0.5,
        le=1.0,
        description="Passages this similar (cosine) to a better-ranked one are collapsed. Empty: off.",
    )
    sentence_weight: float = Field(
        default=0.5,
        ge=0,
        le=4,
        description=(
            "Re-rank the first 20 candidates by their score plus this weight times their best sentence's "
            "cosine (both min-max normalised). 0: off. Skipped when a cross-encoder reranker is on."
        ),
    )
    neighbours: int = Field(
        default=0, ge=0, le=3, description="Adjacent chunks added to each hit as context."
    )

    def with_(self, **changes: object) -> RetrievalSettings:
        """A validated copy with ``changes`` applied (``model_copy(update=...)`` would skip validation)."""
        return RetrievalSettings.model_validate({**self.model_dump(), **changes})

    @property
    def rrf(self) -> Fusion:
        return Fusion(k=self.fusion_k, dense_weight=self.dense_weight, sparse_weight=self.sparse_weight)
