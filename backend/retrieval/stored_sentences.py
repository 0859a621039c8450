"""Sentence vectors stored with each chunk, so a search never encodes the sentences of what it finds.

Retrieval scores the sentences of the passages it returns (the best-sentence re-rank, the confidence
model, what the offline answerer quotes: backend/retrieval/sentences.py). Encoded at query time, a
question meeting 20 passages never seen before encoded their ≈ 200 sentences: about a second on two
CPU cores, for every question that reaches an unread part of a large knowledge base. The ingestion
worker encodes them instead, in the batches it already runs, and keeps them in the chunk's payload
(``sentences``), where the search reads them with the passage it reads anyway.

Stored as int8 with one scale per sentence (the cosine moves by under 0.005; 388 bytes a sentence,
520 characters as base64: about 2.3 KB for a manpages chunk of 4.4 sentences) and tied to three
things, any of which makes them ignored (and encoded at query time, as before) rather than wrong: the
encoder that made them (``model``), the sentence splitter's version (:data:`SPLIT_VERSION`) and the
number of sentences the chunk's text splits into now.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeGuard

import numpy as np

from backend.text.sentences import sentence_spans
from backend.vectorstore.base import SENTENCES

SPLIT_VERSION = 1
"""Bump when :func:`backend.text.sentences.sentence_spans` changes where it cuts: stored vectors of the
old cuts are then ignored instead of being read against the new ones."""
SENTENCES_PER_CALL = 512
"""Sentences per encoder call at ingestion (the encoder batches them by tokens inside)."""


def pack(vectors: np.ndarray, model_id: str) -> dict[str, Any]:
    """``vectors`` (one normalised row per sentence) as a payload value."""
    rows = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    scale = np.maximum(np.abs(rows).max(axis=1), 1e-12) / 127.0
    quantised = np.clip(np.rint(rows / scale[:, None]), -127, 127).astype(np.int8)
    return {
        "model": model_id,
        "v": SPLIT_VERSION,
        "n": len(rows),
        "int8": base64.b64encode(quantised.tobytes()).decode("ascii"),
        "scale": base64.b64encode(scale.astype(np.float32).tobytes()).decode("ascii"),
    }


def current(stored: object, model_id: str) -> TypeGuard[Mapping[str, Any]]:
    """Whether a stored ``sentences`` payload value was made by ``model_id`` with today's sentence
    splitter (a re-ingest keeps such values for chunks whose text did not change)."""
    return (
        isinstance(stored, Mapping) and stored.get("model") == model_id and stored.get("v") == SPLIT_VERSION
    )


def unpack(payload: Mapping[str, Any], model_id: str, sentences: int) -> np.ndarray | None:
    """The normalised ``(sentences, dimension)`` vectors stored in a chunk's ``payload``; None when it
    has none, or none made by ``model_id`` for today's ``sentences`` sentences, or they do not read."""
    stored = payload.get(SENTENCES)
    if not current(stored, model_id) or stored.get("n") != sentences or sentences == 0:
        return None
    try:
        quantised = np.frombuffer(base64.b64decode(stored["int8"], validate=True), dtype=np.int8)
        scale = np.frombuffer(base64.b64decode(stored["scale"], validate=True), dtype=np.float32)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None
    if len(scale) != sentences or len(quantised) % sentences:
        return None
    rows = quantised.reshape(sentences, -1).astype(np.float32) * scale[:, None]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


def sentence_fields(
    texts: Sequence[str],
    embed: Callable[[list[str]], np.ndarray],
    model_id: str,
    on_progress: Callable[[float], None] | None = None,
) -> list[dict[str, Any] | None]:
    """One ``sentences`` payload value per chunk text (None for a text without sentences): every
    distinct sentence of ``texts`` encoded once by ``embed`` (the encoder's document path, as
    query-time scoring encodes them), longest first in calls of :data:`SENTENCES_PER_CALL`, so similar
    lengths share a padded batch; ``on_progress`` gets the share done after each call (a long document
    shows movement). A sentence repeated in the batch (the overlap of consecutive chunks, boilerplate
    shared by pages) is encoded once: 11 % of manpages' sentence words, 2.5 % of python-faq's."""
    spans = [sentence_spans(t) for t in texts]
    flat = [t[s:e] for t, ss in zip(texts, spans, strict=True) for s, e in ss]
    distinct = list(dict.fromkeys(flat))
    row = {sentence: i for i, sentence in enumerate(distinct)}
    order = sorted(range(len(distinct)), key=lambda i: -len(distinct[i]))
    vectors: np.ndarray | None = None
    for start in range(0, len(order), SENTENCES_PER_CALL):
        part = order[start : start + SENTENCES_PER_CALL]
        encoded = np.asarray(embed([distinct[i] for i in part]), dtype=np.float32)
        if vectors is None:
            vectors = np.zeros((len(distinct), encoded.shape[1]), dtype=np.float32)
        vectors[part] = encoded
        if on_progress is not None:
            on_progress((start + len(part)) / len(order))
    out: list[dict[str, Any] | None] = []
    i = 0
    for ss in spans:
        rows = [row[sentence] for sentence in flat[i : i + len(ss)]]
        out.append(pack(vectors[rows], model_id) if vectors is not None and ss else None)
        i += len(ss)
    return out
