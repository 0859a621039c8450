"""/v1/jobs (admin) and /v1/knowledge-bases/{kb_id}/jobs (a key of that knowledge base): the state of
background work."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.deps import ServicesDep
from backend.api.schemas import JobPublic
from backend.errors import NotFound

router = APIRouter(tags=["jobs"])


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: str, services: ServicesDep) -> JobPublic:
    return JobPublic.of(services.queue.get(job_id))


@router.get("/knowledge-bases/{kb_id}/jobs/{job_id}", response_model=JobPublic)
def get_kb_job(kb_id: str, job_id: str, services: ServicesDep) -> JobPublic:
    """A job of this knowledge base (an upload's, a tune's, a fine-tuning run's, an encoder switch's), so
    a key with the read scope can follow the work it started; another's is a 404, as if it did not exist."""
    try:
        job = services.queue.get(job_id)
    except NotFound:
        job = None
    if job is None or job.kb_id != kb_id:  # one message for both: no probing other tenants' job ids
        raise NotFound(f"knowledge base {kb_id} has no job {job_id}")
    return JobPublic.of(job)


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: str, services: ServicesDep) -> JobPublic:
    return JobPublic.of(services.queue.cancel(job_id))
