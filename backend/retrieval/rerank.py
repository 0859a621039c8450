"""Optional cross-encoder reranking, when the operator points KBCHAT_RERANKER__MODEL at a local model.

Off by default: no reranker ships offline. A cross-encoder reads query and passage together, which is
slower but sharper than comparing two vectors; it reorders a fixed pool of candidates, and its
sigmoid score (0–1) is reported as ``rerank_score`` beside the dense ``relevance``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)


class CrossEncoderReranker:
    def __init__(self, model: str, *, device: str | None = None, pool: int = 30) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        self.pool = pool
        self._model = CrossEncoder(model, device=device)
        log.info("reranker %s loaded (pool %d)", model, pool)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        logits = np.asarray(
            self._model.predict([(query, t) for t in texts], activation_fn=None, show_progress_bar=False),
            dtype=np.float64,
        ).reshape(len(texts), -1)[:, -1]
        return [float(p) for p in 1.0 / (1.0 + np.exp(-logits))]
