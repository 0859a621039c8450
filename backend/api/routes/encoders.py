"""/v1/encoders and /v1/knowledge-bases/{kb_id}/finetune: train, inspect, activate encoder versions."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, status
from fastapi.responses import FileResponse

from backend.api.deps import ServicesDep, SessionDep
from backend.api.encoder_schemas import EncoderPublic, EncodersPublic, FinetuneCreate
from backend.api.schemas import JobPublic
from backend.catalog import encoders
from backend.catalog import knowledge_bases as kbs
from backend.errors import NotFound
from backend.jobs.queue import enqueue

router = APIRouter(tags=["encoders"])


@router.post(
    "/knowledge-bases/{kb_id}/finetune", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic
)
def finetune(kb_id: str, body: FinetuneCreate, services: ServicesDep) -> JobPublic:
    """Train a new encoder version for this knowledge base (a background job with progress)."""
    with services.sessions.begin() as session:
        kbs.get(session, kb_id)
        payload = body.model_dump(exclude={"options"}) | {"config": body.options.model_dump()}
        job = enqueue(session, kind=encoders.FINETUNE_JOB, kb_id=kb_id, payload=payload, max_attempts=1)
        session.flush()
        public = JobPublic.of(job)
    services.wake_workers()
    return public


@router.get("/encoders", response_model=EncodersPublic)
def list_encoders(session: SessionDep) -> EncodersPublic:
    versions = encoders.list_all(session)
    active = next((v.name for v in versions if v.active), encoders.BASE)
    return EncodersPublic(data=[EncoderPublic.model_validate(v) for v in versions], active=active)


@router.get("/encoders/{version}", response_model=EncoderPublic)
def get_encoder(version: str, session: SessionDep) -> EncoderPublic:
    return EncoderPublic.model_validate(encoders.get(session, version))


@router.get("/encoders/{version}/chart.png", response_class=FileResponse)
def encoder_chart(version: str, session: SessionDep) -> FileResponse:
    chart = encoders.get(session, version).metrics.get("chart")
    if not chart or not Path(chart).is_file():
        raise NotFound(f"encoder version {version!r} has no chart on this server")
    return FileResponse(chart, media_type="image/png")


@router.post("/encoders/{version}/activate", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def activate(version: str, services: ServicesDep) -> JobPublic:
    """Re-embed every knowledge base with ``version`` ('base': the configured model), then switch to it.
    Search and chat keep answering throughout."""
    with services.sessions.begin() as session:
        job = encoders.request_activation(
            session, version, max_attempts=services.settings.ingest.max_attempts
        )
        session.flush()
        public = JobPublic.of(job)
    services.wake_workers()
    return public
