"""Liveness (the process answers) and readiness (database and vector store answer)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text

from backend.api.deps import ServicesDep
from backend.api.schemas import Health
from backend.errors import KbchatError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health)
def readyz(services: ServicesDep, response: Response) -> Health:
    checks: dict[str, str] = {}
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {exc.__class__.__name__}"
    try:
        services.encoders.base.vectors.ping()
        checks["vector_store"] = "ok"
    except KbchatError as exc:
        checks["vector_store"] = f"unavailable: {exc.message}"
    checks["encoder"] = services.encoders.base.model_id  # the base; each knowledge base may have its own
    ok = all(v == "ok" for k, v in checks.items() if k != "encoder")
    if not ok:
        response.status_code = 503
    return Health(status="ok" if ok else "unavailable", checks=checks)
