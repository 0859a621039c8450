"""Typed dependencies for routes: the services, a database session, the admin check."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from backend.errors import Unauthorized
from backend.services import Services

_bearer = HTTPBearer(auto_error=False, description="The admin token (KBCHAT_ADMIN_TOKEN)")


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    with services.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if credentials is None:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <admin token>'")
    expected: str = request.app.state.admin_token
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise Unauthorized(
            "wrong bearer token; it is KBCHAT_ADMIN_TOKEN, or the file admin_token in the data dir"
        )
