"""Typed dependencies for routes: the services and a database session (authentication: auth.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from backend.services import Services


async def get_services(request: Request) -> Services:
    """The app's services. ``async`` although it awaits nothing: FastAPI runs a plain ``def``
    dependency in its thread pool, and that hop cost every request more than the attribute read."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    with services.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
