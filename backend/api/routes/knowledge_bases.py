"""/v1/knowledge-bases: create, list, read, delete."""

from __future__ import annotations

from fastapi import APIRouter, status

from backend.api.deps import ServicesDep, SessionDep
from backend.api.schemas import KnowledgeBaseCreate, KnowledgeBasePublic, KnowledgeBasesPublic
from backend.catalog import knowledge_bases as kbs

router = APIRouter(prefix="/knowledge-bases", tags=["knowledge bases"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KnowledgeBasePublic)
def create_knowledge_base(body: KnowledgeBaseCreate, session: SessionDep) -> KnowledgeBasePublic:
    kb = kbs.create(session, name=body.name, description=body.description)
    session.commit()
    return KnowledgeBasePublic.model_validate(kb)


@router.get("", response_model=KnowledgeBasesPublic)
def list_knowledge_bases(session: SessionDep) -> KnowledgeBasesPublic:
    counts = kbs.document_counts(session)
    data = [
        KnowledgeBasePublic.model_validate(kb).model_copy(update={"document_count": counts.get(kb.id, 0)})
        for kb in kbs.list_all(session)
    ]
    return KnowledgeBasesPublic(data=data, count=len(data))


@router.get("/{kb_id}", response_model=KnowledgeBasePublic)
def get_knowledge_base(kb_id: str, session: SessionDep) -> KnowledgeBasePublic:
    kb = kbs.get(session, kb_id)
    count = kbs.document_counts(session).get(kb.id, 0)
    return KnowledgeBasePublic.model_validate(kb).model_copy(update={"document_count": count})


@router.delete("/{kb_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_knowledge_base(kb_id: str, services: ServicesDep) -> None:
    kbs.delete(services.sessions, services.vectors, kb_id)
