"""How kbchat lays out a Qdrant Edge shard: its vectors, sparse IDF and payload indexes, and the
``kbchat.json`` beside it that records what Edge's own files do not say back (the encoder, and whether
keyword IDF is counted per knowledge base: backend/vectorstore/keyword_idf.py).

Written once when a shard is created; read when one is opened. With edge.py, the only modules that
import ``qdrant_edge`` at run time (pinned in pyproject.toml: Edge is beta).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import qdrant_edge as qe

from backend.vectorstore.base import DENSE, SPARSE, TERMS

log = logging.getLogger(__name__)
KEYWORD_FIELDS = ("document_id", "content_type", "tags", "text_hash", "lang")
"""Payload fields filtered by exact value (``kb_id`` has its own tenant index)."""
META = "kbchat.json"


def create_shard(
    path: Path, *, encoder_id: str, dimension: int, kb_idf: bool, indexing_threshold_kb: int | None
) -> qe.EdgeShard:
    """A new shard at ``path``. ``kb_idf``: no IDF modifier, and the ``terms`` payload index the store
    counts a knowledge base's term frequencies with; else Qdrant's modifier over the whole shard."""
    log.info(
        "creating Edge shard %s (dim=%d, keyword IDF per %s)",
        path,
        dimension,
        "knowledge base" if kb_idf else "collection",
    )
    config = qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=None if kb_idf else qe.Modifier.Idf)},
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=indexing_threshold_kb)
        if indexing_threshold_kb is not None
        else None,
    )
    shard = qe.EdgeShard.create(str(path), config)
    shard.update(qe.UpdateOperation.create_field_index("kb_id", qe.KeywordIndexParams(is_tenant=True)))
    for field in KEYWORD_FIELDS:
        shard.update(qe.UpdateOperation.create_field_index(field, qe.KeywordIndexParams(enable_hnsw=False)))
    shard.update(qe.UpdateOperation.create_field_index("created_at", qe.PayloadSchemaType.Float))
    shard.update(qe.UpdateOperation.create_field_index("chunk_index", qe.PayloadSchemaType.Integer))
    if kb_idf:
        shard.update(
            qe.UpdateOperation.create_field_index(TERMS, qe.IntegerIndexParams(lookup=True, range=False))
        )
    meta = {"encoder_id": encoder_id, "dimension": dimension}
    (path / META).write_text(json.dumps(meta | ({"keyword_idf": "knowledge_base"} if kb_idf else {})))
    return shard


def made_with_kb_idf(path: Path) -> bool:
    """Whether the shard at ``path`` was made to count keyword IDF per knowledge base (shards made
    before keyword analysis ``ml3``, or before ``kbchat.json`` existed, were not)."""
    meta = path / META
    recorded = json.loads(meta.read_text()) if meta.exists() else {}
    return recorded.get("keyword_idf") == "knowledge_base"
