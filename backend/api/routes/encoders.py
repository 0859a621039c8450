"""Encoders: train one for a knowledge base, choose which serves it, and the operator's registry.

Knowledge-base routes (a key with the ``manage`` scope reaches its own knowledge base only):
``POST …/finetune`` trains a version owned by the knowledge base, ``GET …/encoders`` lists what it
may activate, ``POST …/encoder {version}`` switches it (a job; ``base`` rolls back). Registry routes
(admin only): list, inspect, share, delete, and activate one version for every knowledge base.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi import APIRouter, status
from fastapi.responses import FileResponse

from backend.api.deps import ServicesDep, SessionDep
from backend.api.encoder_schemas import (
    EncoderActivate,
    EncoderPatch,
    EncoderPublic,
    EncodersPublic,
    FinetuneCreate,
)
from backend.api.schemas import JobPublic
from backend.catalog import encoders
from backend.catalog import knowledge_bases as kbs
from backend.db.models import EncoderVersion
from backend.encoder.engines import not_trainable
from backend.errors import InvalidInput, NotFound
from backend.jobs.kinds import FINETUNE_JOB
from backend.jobs.queue import enqueue
from backend.services import Services

router = APIRouter(tags=["encoders"])


def _public(version: EncoderVersion, users: dict[str | None, int]) -> EncoderPublic:
    public = EncoderPublic.model_validate(version)
    public.knowledge_bases = users.get(version.id, 0)
    return public


@router.post(
    "/knowledge-bases/{kb_id}/finetune", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic
)
def finetune(kb_id: str, body: FinetuneCreate, services: ServicesDep) -> JobPublic:
    """Train a new encoder version for this knowledge base (a background job with progress). With
    ``activate``, a version that beats the knowledge base's current encoder serves it afterwards;
    no other knowledge base is affected."""
    if reason := not_trainable(services.settings.encoder.model):  # said now, not as a failed job later
        with services.sessions() as session:
            kbs.get(session, kb_id)  # an unknown knowledge base is a 404 first
        if services.encoders.snapshot(kb_id).version_id is None:
            raise InvalidInput(reason)
    with services.sessions.begin() as session:
        kbs.get(session, kb_id)
        payload = body.model_dump(exclude={"options"}) | {"config": body.options.model_dump()}
        job = enqueue(session, kind=FINETUNE_JOB, kb_id=kb_id, payload=payload, max_attempts=1)
        session.flush()
        public = JobPublic.of(job)
    services.wake_workers()
    return public


@router.get("/knowledge-bases/{kb_id}/encoders", response_model=EncodersPublic)
def kb_encoders(kb_id: str, session: SessionDep) -> EncodersPublic:
    """The versions this knowledge base may activate (its own and shared ones); ``active`` names the
    one serving it now."""
    serving = encoders.served_by(session, kb_id)
    return EncodersPublic(
        data=[_public(v, {}) for v in encoders.visible_to(session, kb_id)],
        active=serving.name if serving else encoders.BASE,
    )


@router.post(
    "/knowledge-bases/{kb_id}/encoder", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic
)
def activate_for_kb(kb_id: str, body: EncoderActivate, services: ServicesDep) -> JobPublic:
    """Serve this knowledge base with ``version`` ('base': the configured model): a job re-embeds its
    chunks, then switches it alone. Search keeps answering throughout, on the old encoder until then."""
    return _queue_activation(services, body.version, kb_id)


@router.get("/encoders", response_model=EncodersPublic)
def list_encoders(session: SessionDep) -> EncodersPublic:
    versions, users = encoders.list_all(session), encoders.usage(session)
    default = next((v.name for v in versions if v.active), encoders.BASE)
    return EncodersPublic(
        data=[_public(v, users) for v in versions], active=default, base_knowledge_bases=users.get(None, 0)
    )


@router.get("/encoders/{version}", response_model=EncoderPublic)
def get_encoder(version: str, session: SessionDep) -> EncoderPublic:
    return _public(encoders.get(session, version), encoders.usage(session))


@router.patch("/encoders/{version}", response_model=EncoderPublic)
def share_encoder(version: str, body: EncoderPatch, session: SessionDep) -> EncoderPublic:
    """Share a version with every knowledge base (or take that back: those it serves keep it)."""
    found = encoders.get(session, version)
    found.shared = body.shared
    session.commit()
    return _public(found, encoders.usage(session))


@router.delete("/encoders/{version}", status_code=status.HTTP_204_NO_CONTENT)
def delete_encoder(version: str, services: ServicesDep) -> None:
    """Delete a version no knowledge base uses: its row, its weights and its collection."""
    with services.sessions() as session:
        found = encoders.get(session, version)
        version_id, stored_path = found.id, found.path
    folder = Path(services.encoders.resolve_path(stored_path)).parent if stored_path else None
    model_id = services.encoders.spec(version_id).model_id if stored_path else None
    with services.sessions.begin() as session:  # reads nothing else inside: SQLite holds the write lock
        encoders.delete(session, encoders.get(session, version_id))
    if model_id is not None:
        services.encoders.drop(model_id)
    services.encoders.forget(version_id)
    artifacts = (services.settings.artifacts_path / "encoders").resolve()
    if folder is not None and folder.resolve().parent == artifacts:  # never outside the artifact folder
        shutil.rmtree(folder, ignore_errors=True)


@router.get("/encoders/{version}/chart.png", response_class=FileResponse)
def encoder_chart(version: str, services: ServicesDep, session: SessionDep) -> FileResponse:
    chart = encoders.get(session, version).metrics.get("chart")
    path = Path(services.encoders.resolve_path(chart)) if chart else None
    if path is None or not path.is_file():
        raise NotFound(f"encoder version {version!r} has no chart on this server")
    return FileResponse(path, media_type="image/png")


@router.post("/encoders/{version}/activate", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def activate_everywhere(version: str, services: ServicesDep) -> JobPublic:
    """The operator's service-wide switch: serve every knowledge base with ``version`` ('base': the
    configured model), one at a time, and make it the default for new ones."""
    return _queue_activation(services, version, None)


def _queue_activation(services: Services, version: str, kb_id: str | None) -> JobPublic:
    with services.sessions.begin() as session:
        job = encoders.request_activation(
            session, version, kb_id=kb_id, max_attempts=services.settings.ingest.max_attempts
        )
        session.flush()
        public = JobPublic.of(job)
    services.wake_workers()
    return public
