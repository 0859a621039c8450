"""Near-duplicate fingerprints of a document's text: MinHash over word 3-grams.

Two documents' MinHash signatures agree in about the share of positions that their sets of word
3-grams overlap (Jaccard); with the sets' sizes that gives *containment* (how much of the smaller one
is in the larger), which stays high when one copy is truncated or merged into a longer page — where
Jaccard and the embedding's cosine both fall. Hashes are blake2b of the shingle and fixed universal
permutations, so a signature is the same in every process and version (it is stored).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np

PERMUTATIONS = 256
SHINGLE_WORDS = 3
_PRIME = (1 << 61) - 1
_rng = np.random.default_rng(20261206)  # fixed: signatures are stored and compared across processes
_A = _rng.integers(1, 1 << 32, PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, 1 << 32, PERMUTATIONS, dtype=np.uint64)
"""32-bit multipliers on 32-bit shingle hashes: a*x + b stays under 2**64, so numpy's uint64 is exact."""
_WORD = re.compile(r"\w+", re.UNICODE)


def shingle_hashes(text: str) -> np.ndarray:
    """The distinct word 3-grams of ``text`` (lower-cased), each as a 32-bit hash."""
    words = _WORD.findall(text.lower())
    if len(words) < SHINGLE_WORDS:
        words = words + [""] * (SHINGLE_WORDS - len(words))
    grams = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}
    return np.array(
        sorted(int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little") for g in grams),
        dtype=np.uint64,
    )


def minhash(hashes: np.ndarray) -> np.ndarray:
    """The signature: for each permutation, the smallest permuted shingle hash."""
    if hashes.size == 0:
        return np.full(PERMUTATIONS, _PRIME, dtype=np.uint64)
    out = np.empty(PERMUTATIONS, dtype=np.uint64)
    for start in range(0, PERMUTATIONS, 16):  # 16 permutations at a time: memory stays small for long texts
        a, b = _A[start : start + 16, None], _B[start : start + 16, None]
        out[start : start + 16] = ((a * hashes[None, :] + b) % np.uint64(_PRIME)).min(axis=1)
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


def containment(j: Any, size_a: Any, size_b: Any) -> Any:
    """Share of the smaller set inside the larger, from their Jaccard estimate and sizes (numbers, or
    numpy arrays of them: the same formula scores one pair or a whole knowledge base)."""
    smaller = np.maximum(np.minimum(size_a, size_b), 1)  # an empty set contains nothing: j is 0 there
    return np.minimum(1.0, j * (np.asarray(size_a) + size_b) / ((1 + j) * smaller))


DUPLICATE_THRESHOLD = 0.4
"""Flag a pair at or above this score: precision 0.98–1.0 at recall 0.95–0.98 on the generated sets
(bench/duplicates.py, docs/benchmarks.md)."""
COSINE_FLOOR = 0.9


def duplicate_score(cosine: Any, contained: Any) -> Any:
    """How surely two documents are near-duplicates, 0–1: the larger of the text containment (a copy
    truncated or merged into a longer page keeps most of its word 3-grams) and the embedding cosine
    rescaled from 0.9–1.0 (a reworded copy keeps its meaning, not its 3-grams). Topical neighbours in
    the shared sets stay under 0.9 cosine and share almost no 3-grams."""
    return np.maximum(contained, np.clip((cosine - COSINE_FLOOR) / (1 - COSINE_FLOOR), 0.0, 1.0))
