"""Vectors as JSON lines, one file per collection: read through the store's own ``scan`` and written
back through ``upsert``, so a backup moves between Qdrant Edge, qdrant-client's local mode and a Qdrant
server alike (the server's snapshot files would tie a backup to one engine and version).

Vectors are derived data: the database holds every document's upload, so a point missing after a
restore is rebuilt by re-ingesting (``kbchat doctor --fix``), and a stray one is deleted. Restoring
them saves the embedding time, which on a CPU is most of an ingestion.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from backend.vectorstore.base import UPSERT_BATCH, ChunkRecord, SparseVector, VectorStore


def encode_point(record: ChunkRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "dense": base64.b64encode(np.asarray(record.dense, dtype="<f4").tobytes()).decode("ascii"),
        "sparse": {"indices": list(record.sparse.indices), "values": list(record.sparse.values)},
        "payload": record.payload,
    }


def decode_point(row: dict[str, Any], dimension: int) -> ChunkRecord:
    dense = np.frombuffer(base64.b64decode(row["dense"], validate=True), dtype="<f4")
    if dense.shape != (dimension,):
        raise ValueError(f"point {row.get('id')} has {dense.size} dimensions, its collection {dimension}")
    sparse = row["sparse"]
    return ChunkRecord(
        id=str(row["id"]),
        dense=dense.astype(np.float32),
        sparse=SparseVector([int(i) for i in sparse["indices"]], [float(v) for v in sparse["values"]]),
        payload=dict(row["payload"]),
    )


def dump_points(store: VectorStore, path: Path) -> int:
    """Every point of ``store``'s collection to ``path``; returns how many."""
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for batch in store.scan(batch=UPSERT_BATCH):
            for record in batch:
                f.write(json.dumps(encode_point(record), ensure_ascii=False) + "\n")
            count += len(batch)
    return count


def _batches(path: Path, dimension: int) -> Iterator[list[ChunkRecord]]:
    batch: list[ChunkRecord] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            batch.append(decode_point(json.loads(line), dimension))
            if len(batch) >= UPSERT_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def load_points(store: VectorStore, path: Path) -> int:
    """Upsert the points in ``path`` into ``store``; returns how many."""
    count = 0
    for batch in _batches(path, store.dimension):
        store.upsert(batch)
        count += len(batch)
    return count
