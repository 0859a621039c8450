"""Who is calling, and may they: the admin token, or a knowledge base's API key with scopes.

The policy is one table, reviewed in one place: the scope a key needs for each route. A route not in
the table is for the admin token only, so a new endpoint is closed to keys until someone decides.
A key for knowledge base A asking about B gets 404, exactly as if B did not exist: a key cannot probe
for other tenants. Widget keys never pass here (they are public); they use /v1/widget only.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import compile_path

from backend.catalog import keys
from backend.errors import Forbidden, NotFound, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="The admin token, or a knowledge base's API key")

KB = "/v1/knowledge-bases/{kb_id}"
POLICY: dict[tuple[str, str], str] = {
    ("GET", KB): "read",
    ("GET", f"{KB}/documents"): "read",
    ("GET", f"{KB}/documents/{{document_id}}"): "read",
    ("GET", f"{KB}/documents/{{document_id}}/chunks"): "read",
    ("POST", f"{KB}/documents"): "write",
    ("POST", f"{KB}/documents/from-url"): "write",
    ("DELETE", f"{KB}/documents/{{document_id}}"): "write",
    ("POST", f"{KB}/documents/{{document_id}}/retry"): "write",
    ("GET", f"{KB}/jobs/{{job_id}}"): "read",
    ("POST", f"{KB}/search"): "search",
    ("POST", f"{KB}/chat"): "chat",
    ("POST", f"{KB}/messages/{{message_id}}/feedback"): "chat",
    ("PATCH", KB): "manage",
    ("POST", f"{KB}/tune"): "manage",
    ("POST", f"{KB}/finetune"): "manage",
    ("GET", f"{KB}/encoders"): "manage",
    ("POST", f"{KB}/encoder"): "manage",
    ("GET", f"{KB}/keys"): "manage",
    ("POST", f"{KB}/keys"): "manage",
    ("DELETE", f"{KB}/keys/{{key_id}}"): "manage",
    ("POST", f"{KB}/identity/rotate"): "manage",
    ("DELETE", f"{KB}/identity"): "manage",
    ("GET", f"{KB}/webhook"): "manage",
    ("POST", f"{KB}/webhook/rotate"): "manage",
    ("GET", f"{KB}/analytics/{{report}}"): "manage",
    ("GET", f"{KB}/conversations"): "support",
    ("GET", f"{KB}/conversations/{{conversation_id}}"): "support",
    ("POST", f"{KB}/conversations/{{conversation_id}}/handoff"): "support",
    ("POST", f"{KB}/conversations/{{conversation_id}}/release"): "support",
    ("POST", f"{KB}/conversations/{{conversation_id}}/messages"): "support",
    ("GET", f"{KB}/leads"): "support",
    ("GET", f"{KB}/duplicates"): "read",
    ("GET", f"{KB}/sources"): "read",
    ("GET", f"{KB}/sources/{{source_id}}"): "read",
    ("GET", f"{KB}/sources/{{source_id}}/syncs"): "read",
    ("GET", f"{KB}/sources/{{source_id}}/documents"): "read",
    ("POST", f"{KB}/sources"): "write",
    ("PATCH", f"{KB}/sources/{{source_id}}"): "write",
    ("DELETE", f"{KB}/sources/{{source_id}}"): "write",
    ("POST", f"{KB}/sources/{{source_id}}/sync"): "write",
}


ANY_CALLER = frozenset({("GET", "/v1/whoami"), ("GET", "/v1/connectors")})
"""Routes every valid bearer may call: they say only who the caller is."""

_COMPILED = [(method, compile_path(path)[0], scope) for (method, path), scope in POLICY.items()]
"""Matched against the request's own path, so the policy does not depend on how routers nest."""


def required_scope(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    """The scope a key needs for ``method path`` (None: admin only) and the path's parameters."""
    for candidate, pattern, scope in _COMPILED:
        match = pattern.match(path)
        if candidate == method and match:
            return scope, match.groupdict()
    return None, {}


@dataclass(frozen=True, slots=True)
class Principal:
    admin: bool
    kb_id: str | None = None
    scopes: frozenset[str] = frozenset()
    key_id: str | None = None


ADMIN = Principal(admin=True)
MISSING = "missing bearer token: send 'Authorization: Bearer <admin token or API key>'"


def is_admin(token: str, state: Any) -> bool:
    """``token`` is the admin token (a constant-time comparison: no I/O, fine on the event loop)."""
    return hmac.compare_digest(token.encode(), state.admin_token.encode())


def principal_for(token: str, state: Any) -> Principal:
    """Who ``token`` is (``state``: the app's, holding the admin token and the services): the admin or a
    live secret key. Unauthorized or Forbidden (a widget key) otherwise. One key look-up at most."""
    if is_admin(token, state):
        return ADMIN
    with state.services.reads() as session:
        key = keys.find(session, token)
        if key is None:
            raise Unauthorized(
                "wrong bearer token: not the admin token (KBCHAT_ADMIN_TOKEN or the data dir's admin_token) "
                "and not a live API key (revoked keys stop working at once)"
            )
        if key.kind == "widget":
            raise Forbidden("widget keys are public and only work on /v1/widget/*; use a secret key here")
        return Principal(False, key.kb_id, frozenset(key.scopes), key.id)


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The v1 router's guard: resolve the bearer, then check the policy for this route. On the event
    loop: the admin token is a comparison, and only a key's look-up goes to a thread (a plain ``def``
    dependency would send every request through FastAPI's thread pool)."""
    if credentials is None:
        raise Unauthorized(MISSING)
    token, state = credentials.credentials, request.app.state
    if is_admin(token, state):
        principal = ADMIN
    else:
        principal = await anyio.to_thread.run_sync(principal_for, token, state)
    if principal is ADMIN:
        request.state.principal = ADMIN
        return ADMIN
    authorize(request, principal)
    request.state.principal = principal
    return principal


def authorize(request: Request, principal: Principal) -> None:
    if principal.admin or (request.method, request.url.path) in ANY_CALLER:
        return
    needed, params = required_scope(request.method, request.url.path)
    if needed is None:
        raise Forbidden("this endpoint needs the admin token; API keys reach one knowledge base only")
    kb_id = params.get("kb_id")
    if kb_id != principal.kb_id:
        raise NotFound(f"knowledge base {kb_id} does not exist")
    if needed not in principal.scopes:
        raise Forbidden(
            f"this key lacks the {needed!r} scope; create a key with it (scopes: {', '.join(keys.SCOPES)})"
        )
