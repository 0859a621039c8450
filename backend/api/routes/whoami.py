"""Who the bearer is: what the console asks first, to show only what the caller may use."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from backend.api.auth import Principal

router = APIRouter(tags=["keys"])


class WhoAmI(BaseModel):
    admin: bool = Field(description="The admin token: every knowledge base and the service-wide routes.")
    kb_id: str | None = Field(description="The one knowledge base an API key reaches; null for the admin.")
    scopes: list[str] = Field(description="An API key's scopes (read, write, search, chat, manage, support).")


@router.get("/whoami", response_model=WhoAmI)
def whoami(request: Request) -> WhoAmI:
    principal: Principal = request.state.principal
    return WhoAmI(admin=principal.admin, kb_id=principal.kb_id, scopes=sorted(principal.scopes))
