"""/v1/knowledge-bases: create, list, read, update, delete."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, status

from backend.api.deps import ServicesDep, SessionDep
from backend.api.encoder_schemas import KbEncoderPublic
from backend.api.schemas import (
    KnowledgeBaseCreate,
    KnowledgeBasePublic,
    KnowledgeBasesPublic,
    KnowledgeBaseUpdate,
    TuneAccepted,
    TuneRequest,
)
from backend.catalog import knowledge_bases as kbs
from backend.catalog import sources
from backend.catalog.encoders import BASE
from backend.catalog.widget import widget_settings
from backend.db.models import KnowledgeBase
from backend.jobs.kinds import TUNE_JOB
from backend.jobs.queue import enqueue
from backend.keywords import encoder as keywords
from backend.llm.config import ChatSettings

router = APIRouter(prefix="/knowledge-bases", tags=["knowledge bases"])


def _chain_checker(services: ServicesDep) -> Callable[[ChatSettings], None]:
    def check(settings: ChatSettings) -> None:
        if settings.chain:
            services.chat.providers.check_chain(settings.chain)

    return check


def _public(kb: KnowledgeBase, document_count: int = 0) -> KnowledgeBasePublic:
    version = kb.encoder_version
    return KnowledgeBasePublic(
        encoder=KbEncoderPublic(
            version=version.name if version else BASE,
            version_id=kb.encoder_version_id,
            keywords=kb.keywords or keywords.LEGACY,
        ),
        id=kb.id,
        name=kb.name,
        description=kb.description,
        document_count=document_count,
        retrieval=kbs.retrieval_settings(kb),
        chat=kbs.chat_settings(kb),
        widget=widget_settings(kb),
        created_at=kb.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KnowledgeBasePublic)
def create_knowledge_base(
    body: KnowledgeBaseCreate, services: ServicesDep, session: SessionDep
) -> KnowledgeBasePublic:
    kb = kbs.create(session, name=body.name, description=body.description, retrieval=body.retrieval)
    if body.chat is not None:
        chat = body.chat.model_dump(exclude_unset=True, mode="json")
        kbs.update(session, kb.id, chat=chat, check_chat=_chain_checker(services))
    session.commit()
    return _public(kb)


@router.get("", response_model=KnowledgeBasesPublic)
def list_knowledge_bases(session: SessionDep) -> KnowledgeBasesPublic:
    counts = kbs.document_counts(session)
    data = [_public(kb, counts.get(kb.id, 0)) for kb in kbs.list_all(session)]
    return KnowledgeBasesPublic(data=data, count=len(data))


@router.get("/{kb_id}", response_model=KnowledgeBasePublic)
def get_knowledge_base(kb_id: str, session: SessionDep) -> KnowledgeBasePublic:
    kb = kbs.get(session, kb_id)
    return _public(kb, kbs.document_counts(session).get(kb.id, 0))


@router.patch("/{kb_id}", response_model=KnowledgeBasePublic)
def update_knowledge_base(
    kb_id: str, body: KnowledgeBaseUpdate, services: ServicesDep, session: SessionDep
) -> KnowledgeBasePublic:
    """Rename, or change the description or any retrieval setting (mode, fusion weights, thresholds)."""
    retrieval = body.retrieval.model_dump(exclude_unset=True) if body.retrieval else None
    chat = body.chat.model_dump(exclude_unset=True, mode="json") if body.chat else None
    kb = kbs.update(
        session,
        kb_id,
        name=body.name,
        description=body.description,
        retrieval=retrieval,
        chat=chat,
        check_chat=_chain_checker(services),
        widget=body.widget,
    )
    session.commit()
    return _public(kb, kbs.document_counts(session).get(kb.id, 0))


@router.post("/{kb_id}/tune", status_code=status.HTTP_202_ACCEPTED, response_model=TuneAccepted)
def tune_knowledge_base(kb_id: str, body: TuneRequest, services: ServicesDep) -> TuneAccepted:
    """Fit mode, fusion and the confidence model to question–passage pairs (a background job; GET
    /v1/jobs/{id} for the report)."""
    with services.sessions.begin() as session:
        kbs.get(session, kb_id)
        job = enqueue(
            session,
            kind=TUNE_JOB,
            kb_id=kb_id,
            max_attempts=1,
            payload={"pairs": [p.model_dump() for p in body.pairs], "apply": body.apply},
        )
    services.wake_workers()
    return TuneAccepted(job_id=job.id)


@router.delete("/{kb_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_knowledge_base(kb_id: str, services: ServicesDep) -> None:
    with services.sessions() as session:
        source_ids = [s.id for s in sources.list_for(session, kb_id)]
    kbs.delete(services.sessions, services.encoders.stores_of(kb_id), kb_id)
    for source_id in source_ids:  # their rows went with the knowledge base; their folders (clones) go too
        sources.remove_workdir(services.settings.data_dir, source_id)
