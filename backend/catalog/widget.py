"""A knowledge base's website widget: how it looks, where it may run, how much it may be used.

Settings live on the knowledge base (JSON, validated here) and are changed with
``PATCH /v1/knowledge-bases/{id} {"widget": {...}}``. The daily message budget is counted in the
database (one row per knowledge base and UTC day), so it holds across restarts and processes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db.engine import rows_changed
from backend.db.models import KnowledgeBase, WidgetUsage

_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:\d{1,5})?$")


class WidgetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    allowed_origins: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Pages the widget may run on, as origins: https://www.example.com (no path). "
        "Empty: the widget is off.",
    )
    assistant_name: str = Field(default="Assistant", min_length=1, max_length=100)
    greeting: str = Field(default="Hi! Ask me anything about our docs.", max_length=500)
    primary_color: str = Field(default="#2457d6", pattern=r"^#[0-9a-fA-F]{6}$")
    logo_url: str | None = Field(default=None, max_length=2000, pattern=r"^https://")
    tone: str | None = Field(default=None, max_length=200)
    messages_per_minute: int = Field(default=10, ge=1, le=600, description="Per visitor (IP address).")
    key_messages_per_minute: int = Field(
        default=300, ge=1, le=100_000, description="Per widget key, all visitors."
    )
    daily_budget: int = Field(
        default=2000, ge=0, le=10_000_000, description="Messages per UTC day, all visitors."
    )
    max_message_chars: int = Field(default=2000, ge=10, le=20_000)
    require_identity: bool = Field(
        default=False,
        description="Only visitors with a valid token signed by the customer's backend may chat "
        "(POST .../identity/rotate gives the secret; see backend/catalog/identity.py).",
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://",
        description="Receives signed lead.created, handoff.* and conversation.message events.",
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            origin = value.strip().lower().rstrip("/")
            if not _ORIGIN.match(origin):
                raise ValueError(
                    f"{value!r} is not an origin; write scheme://host[:port], e.g. https://example.com"
                )
            out.append(origin)
        return list(dict.fromkeys(out))


def widget_settings(kb: KnowledgeBase) -> WidgetSettings:
    return WidgetSettings.model_validate(kb.widget or {})


def consume_budget(session: Session, kb_id: str, budget: int) -> bool:
    """Count one message against today's budget; False (and nothing counted) when it is spent."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    for _ in range(2):  # the second pass covers a concurrent first message of the day
        counted = session.execute(
            update(WidgetUsage)
            .where(WidgetUsage.kb_id == kb_id, WidgetUsage.day == day, WidgetUsage.messages < budget)
            .values(messages=WidgetUsage.messages + 1)
        )
        if rows_changed(counted):
            return True
        if session.get(WidgetUsage, (kb_id, day)) is not None:
            return False  # the row exists and is at the budget
        if budget <= 0:
            return False
        try:
            with session.begin_nested():
                session.add(WidgetUsage(kb_id=kb_id, day=day, messages=1))
            return True
        except IntegrityError:
            continue
    return False


def refund_budget(session: Session, kb_id: str) -> None:
    """Give back the message :func:`consume_budget` counted for a turn that was refused (bad input):
    only answered messages spend a knowledge base's daily budget."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    session.execute(
        update(WidgetUsage)
        .where(WidgetUsage.kb_id == kb_id, WidgetUsage.day == day, WidgetUsage.messages > 0)
        .values(messages=WidgetUsage.messages - 1)
    )
