"""API keys: created per knowledge base with scopes, shown once, stored as a SHA-256, revocable.

A key is 32 random bytes (URL-safe base64) behind a readable prefix: ``kbk_`` for secret keys,
``kbw_`` for public widget keys. With that much entropy a plain SHA-256 is the right store (a slow
password hash protects guessable secrets; these are not), and lookup is one indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import ApiKey, utcnow
from backend.errors import InvalidInput, NotFound

Scope = Literal["read", "search", "chat", "write", "manage", "support"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
"""read: the KB and its documents · search · chat (and feedback) · write: upload and delete
documents · manage: settings, tuning, fine-tuning, keys, secrets, analytics · support: conversations,
handoffs, a person's replies, leads (what a help desk integration needs, nothing more)."""
PREFIXES = {"secret": "kbk_", "widget": "kbw_"}
MAX_KEYS_PER_KB = 100


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str
    """The key itself: returned once, never stored."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(session: Session, *, kb_id: str, name: str, kind: str, scopes: list[str]) -> CreatedKey:
    if kind not in PREFIXES:
        raise InvalidInput(f"kind must be 'secret' or 'widget', not {kind!r}")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidInput(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    if kind == "widget":
        scopes = ["chat"]  # public keys only ever chat; anything else would be a leak by design
    elif not scopes:
        raise InvalidInput(f"give the key at least one scope: {', '.join(SCOPES)}")
    count = len(
        session.scalars(select(ApiKey.id).where(ApiKey.kb_id == kb_id, ApiKey.revoked_at.is_(None))).all()
    )
    if count >= MAX_KEYS_PER_KB:
        raise InvalidInput(f"the knowledge base already has {count} keys; revoke unused ones first")
    secret = PREFIXES[kind] + secrets.token_urlsafe(32)
    key = ApiKey(
        kb_id=kb_id,
        name=name.strip()[:200] or kind,
        kind=kind,
        prefix=secret[:12],
        key_hash=digest(secret),
        scopes=sorted(set(scopes), key=SCOPES.index),
    )
    session.add(key)
    session.flush()
    return CreatedKey(key, secret)


def find(session: Session, secret: str) -> ApiKey | None:
    """The live key for ``secret``, or None (unknown or revoked)."""
    if not secret.startswith(tuple(PREFIXES.values())):
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(secret)))
    return key if key is not None and key.revoked_at is None else None


def list_for(session: Session, kb_id: str) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.kb_id == kb_id).order_by(ApiKey.created_at)))


def revoke(session: Session, kb_id: str, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.kb_id != kb_id:
        raise NotFound(f"key {key_id} does not exist in knowledge base {kb_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
