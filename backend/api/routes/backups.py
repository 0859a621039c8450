"""/v1/backups (admin): a backup taken inside the running service.

With the embedded defaults the service's process owns the vector store (Qdrant Edge, like SQLite,
belongs to one process), so ``kbchat backup`` from another process cannot open it while the service
runs; this route takes the same backup from inside, into ``<data dir>/backups/<name>``, for the
operator to copy off the machine. With PostgreSQL and a Qdrant server, ``kbchat backup`` works from
any machine.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from backend.api.deps import ServicesDep

router = APIRouter(tags=["operations"])


class BackupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="The backup's folder name under <data dir>/backups (letters, digits, . _ -; at most 64).",
    )


@router.post("/backups", status_code=status.HTTP_201_CREATED)
def create_backup(body: BackupCreate, services: ServicesDep) -> dict[str, Any]:
    """Write a consistent backup while the service keeps serving; returns where, and its manifest
    (row counts, vectors per collection, encoder versions, schema revision)."""
    from backend.backup.archive import create_backup as write

    path = services.settings.data_dir / "backups" / body.name
    return {"path": str(path.absolute()), **write(services, path)}
