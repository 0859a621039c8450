"""How kbchat lays out a collection on a Qdrant server (or in qdrant-client's local mode): its vectors,
sparse IDF, payload indexes and cluster layout (backend/vectorstore/cluster.py), and how an existing
collection says whether its keyword IDF is counted per knowledge base (backend/vectorstore/keyword_idf.py).
"""

from __future__ import annotations

import logging
import warnings

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from backend.vectorstore.base import DENSE, SPARSE, TERMS
from backend.vectorstore.cluster import ClusterSettings, collection_options

log = logging.getLogger(__name__)
_INDEXED = (
    ("document_id", qm.PayloadSchemaType.KEYWORD),
    ("content_type", qm.PayloadSchemaType.KEYWORD),
    ("tags", qm.PayloadSchemaType.KEYWORD),
    ("lang", qm.PayloadSchemaType.KEYWORD),
    ("created_at", qm.PayloadSchemaType.FLOAT),
    ("chunk_index", qm.PayloadSchemaType.INTEGER),
)
"""Payload fields filters read (``kb_id`` has its own tenant index)."""


def create_collection(
    client: QdrantClient,
    name: str,
    *,
    encoder_id: str,
    dimension: int,
    cluster: ClusterSettings,
    kb_idf: bool,
) -> None:
    """A new collection ``name``. ``kb_idf``: no IDF modifier, and the ``terms`` payload index the store
    counts a knowledge base's term frequencies with; else Qdrant's modifier over the whole collection."""
    log.info(
        "creating collection %s (dim=%d, keyword IDF per %s)",
        name,
        dimension,
        "knowledge base" if kb_idf else "collection",
    )
    client.create_collection(
        name,
        vectors_config={DENSE: qm.VectorParams(size=dimension, distance=qm.Distance.COSINE)},
        sparse_vectors_config={
            SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.NONE if kb_idf else qm.Modifier.IDF)
        },
        metadata={"encoder_id": encoder_id, "dimension": dimension},
        **collection_options(cluster),
    )
    with warnings.catch_warnings():  # local mode warns that indexes are no-ops there; the server needs them
        warnings.simplefilter("ignore", UserWarning)
        client.create_payload_index(
            name, "kb_id", qm.KeywordIndexParams(type=qm.KeywordIndexType.KEYWORD, is_tenant=True)
        )
        for field, schema in _INDEXED:
            client.create_payload_index(name, field, schema)
        if kb_idf:
            client.create_payload_index(
                name, TERMS, qm.IntegerIndexParams(type=qm.IntegerIndexType.INTEGER, lookup=True, range=False)
            )


def made_with_kb_idf(client: QdrantClient, name: str) -> bool:
    """Whether collection ``name`` counts keyword IDF per knowledge base: its sparse vectors have no
    modifier (Qdrant's IDF over the collection in those made before keyword analysis ``ml3``)."""
    sparse = client.get_collection(name).config.params.sparse_vectors or {}
    params = sparse.get(SPARSE)
    return params is not None and params.modifier != qm.Modifier.IDF
