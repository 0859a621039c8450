"""The time window every report and list takes: ``?since=&until=`` (ISO 8601) or ``?days=``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Query

from backend.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Window:
    since: datetime
    until: datetime


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)  # bare times are UTC


def time_window(
    since: datetime | None = Query(default=None, description="Start (ISO 8601; no zone means UTC)."),
    until: datetime | None = Query(default=None, description="End, exclusive (default: now)."),
    days: int = Query(default=30, ge=1, le=3660, description="Length when since is not given."),
) -> Window:
    end = _aware(until) if until else datetime.now(UTC)
    start = _aware(since) if since else end - timedelta(days=days)
    if start >= end:
        raise InvalidInput(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    return Window(start, end)


WindowDep = Annotated[Window, Depends(time_window)]
