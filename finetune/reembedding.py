"""A knowledge base's chunks as another encoder or keyword analysis holds them (what an activation
copies): dense and sentence vectors re-embedded only if the encoder changes, sparse vectors rebuilt
only if the keyword analysis does, payloads kept otherwise."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from backend.keywords.analysis import DEFAULT_LANGUAGE
from backend.retrieval.stored_sentences import sentence_fields
from backend.serving.snapshot import EncoderSnapshot
from backend.text.embedded import embedding_text
from backend.text.languages import language_of
from backend.vectorstore.base import SENTENCES, ChunkRecord


def moved(
    batch: list[ChunkRecord], old: EncoderSnapshot, target: EncoderSnapshot, *, sentences: bool = True
) -> list[ChunkRecord]:
    """``batch``'s records as ``target`` holds them: dense vectors re-embedded only if the encoder
    changes, and then their sentence vectors too (``sentences``: KBCHAT_CHUNKING__SENTENCE_VECTORS);
    sparse ones rebuilt only if the keyword analysis does."""
    records = batch
    if target.model_id != old.model_id:
        vectors = target.embedder.embed_documents([embedding_text(r.payload) for r in records])
        records = [replace(r, dense=v) for r, v in zip(records, vectors, strict=True)]
        records = _resentenced(records, target, sentences)
    if target.keywords.version != old.keywords.version:
        records = [_reanalysed(r, target) for r in records]
    return records


def _resentenced(records: list[ChunkRecord], target: EncoderSnapshot, enabled: bool) -> list[ChunkRecord]:
    """The records with sentence vectors from ``target``'s encoder (the old encoder's would be ignored by
    every search, which would encode the sentences again): all of them when ``enabled``, including
    chunks stored before sentence vectors existed; else none, the old ones dropped."""
    fields: list[dict[str, Any] | None] = [None] * len(records)
    if enabled:
        texts = [r.payload.get("text", "") for r in records]
        fields = sentence_fields(texts, target.embedder.embed_documents, target.model_id)
    out = []
    for record, field in zip(records, fields, strict=True):
        payload = {k: v for k, v in record.payload.items() if k != SENTENCES}
        out.append(replace(record, payload={**payload, **({SENTENCES: field} if field else {})}))
    return out


def _reanalysed(record: ChunkRecord, target: EncoderSnapshot) -> ChunkRecord:
    """Points of the first releases carry no language: it is detected from the chunk now (English when
    unsure, which is what they were analysed as)."""
    language = record.payload.get("lang") or language_of(record.payload.get("text", ""), DEFAULT_LANGUAGE)
    return replace(
        record,
        sparse=target.keywords.encode_document(embedding_text(record.payload), language),
        payload={**record.payload, "lang": language},
    )
