"""How a Qdrant *server* lays out a collection: shards, replicas, payload on disk, int8 vectors.

These matter only on a server or cluster (``KBCHAT_QDRANT__URL``): one collection per encoder holds
every knowledge base on it, so its layout is the service's capacity (docs/scaling.md). Embedded stores
(Edge, local mode) keep everything in one process and ignore them; qdrant-client's local mode accepts
the same arguments, which is how the tests keep the server path honest without a server.

- ``shard_number``: a collection is split over this many shards, spread over the cluster's nodes
  (writes and memory scale out; set it to a multiple of the node count, it cannot change later without
  resharding).
- ``replication_factor`` / ``write_consistency_factor``: copies of each shard, and how many must
  acknowledge a write (reads survive a node down when replication ≥ 2).
- ``on_disk_payload``: chunk texts and metadata stay on disk (memory for vectors and the index only).
- ``quantization: int8``: Qdrant keeps an int8 copy of the dense vectors in RAM (4× smaller) and
  searches it, then **rescores** the best ``oversampling × limit`` candidates with the full vectors
  (on disk), so recall stays that of float32 search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from qdrant_client import models as qm


class ClusterSettings(BaseModel):
    """A Qdrant server's collection layout (backend/vectorstore/cluster.py; docs/scaling.md)."""

    shard_number: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Shards per collection (server only). Empty: Qdrant's default (1).",
    )
    replication_factor: int | None = Field(
        default=None, ge=1, le=16, description="Copies of each shard (server only). Empty: 1."
    )
    write_consistency_factor: int | None = Field(
        default=None, ge=1, le=16, description="Replicas that must acknowledge a write. Empty: 1."
    )
    on_disk_payload: bool = Field(
        default=False, description="Keep chunk texts and metadata on disk, not in RAM (server only)."
    )
    quantization: Literal["none", "int8"] = Field(
        default="none",
        description="int8: search an in-RAM int8 copy of the dense vectors, rescored with the originals.",
    )
    oversampling: float = Field(
        default=2.0, ge=1.0, le=10.0, description="int8: candidates rescored per result wanted."
    )


def collection_options(cluster: ClusterSettings) -> dict[str, Any]:
    """Keyword arguments for ``create_collection`` beyond the vectors (only those that are set)."""
    from qdrant_client import models as qm  # here: settings import this module, and --help stays fast

    options: dict[str, Any] = {
        "shard_number": cluster.shard_number,
        "replication_factor": cluster.replication_factor,
        "write_consistency_factor": cluster.write_consistency_factor,
        "on_disk_payload": cluster.on_disk_payload or None,
    }
    if cluster.quantization == "int8":
        options["quantization_config"] = qm.ScalarQuantization(
            scalar=qm.ScalarQuantizationConfig(type=qm.ScalarType.INT8, quantile=0.99, always_ram=True)
        )
    return {k: v for k, v in options.items() if v is not None}


def dense_search_params(cluster: ClusterSettings) -> qm.SearchParams | None:
    """Search parameters for dense queries: rescoring of the int8 candidates when quantised."""
    from qdrant_client import models as qm

    if cluster.quantization != "int8":
        return None
    return qm.SearchParams(
        quantization=qm.QuantizationSearchParams(rescore=True, oversampling=cluster.oversampling)
    )
