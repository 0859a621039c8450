"""/v1/jobs: the state of background work."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.deps import ServicesDep
from backend.api.schemas import JobPublic

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: str, services: ServicesDep) -> JobPublic:
    return JobPublic.of(services.queue.get(job_id))


@router.post("/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: str, services: ServicesDep) -> JobPublic:
    return JobPublic.of(services.queue.cancel(job_id))
