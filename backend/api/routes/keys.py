"""/v1/knowledge-bases/{kb_id}/keys: API keys for one knowledge base (shown once, revocable)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from backend.api.deps import SessionDep
from backend.catalog import keys
from backend.catalog import knowledge_bases as kbs
from backend.catalog.keys import Scope

router = APIRouter(prefix="/knowledge-bases/{kb_id}/keys", tags=["keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="", max_length=200)
    kind: Literal["secret", "widget"] = "secret"
    scopes: list[Scope] = Field(
        default_factory=lambda: list[Scope](["read", "search", "chat"]),
        description="Ignored for widget keys, which can only chat.",
    )


class KeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kb_id: str
    name: str
    kind: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself. Shown this once: only its hash is stored.")


class KeysPublic(BaseModel):
    data: list[KeyPublic]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
def create_key(kb_id: str, body: KeyCreate, session: SessionDep) -> KeyCreated:
    kbs.get(session, kb_id)
    created = keys.create(session, kb_id=kb_id, name=body.name, kind=body.kind, scopes=list(body.scopes))
    session.commit()
    return KeyCreated(**KeyPublic.model_validate(created.key).model_dump(), key=created.secret)


@router.get("", response_model=KeysPublic)
def list_keys(kb_id: str, session: SessionDep) -> KeysPublic:
    kbs.get(session, kb_id)
    return KeysPublic(data=[KeyPublic.model_validate(k) for k in keys.list_for(session, kb_id)])


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(kb_id: str, key_id: str, session: SessionDep) -> None:
    keys.revoke(session, kb_id, key_id)
    session.commit()
