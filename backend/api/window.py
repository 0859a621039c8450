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


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Times a request may name: every database stores them, and arithmetic on them cannot overflow
(year 1 or 9999 made SQLite and ``timedelta`` fail with a 500)."""


def bounded(value: datetime, name: str) -> datetime:
    """``value`` in UTC (a bare time is UTC), or InvalidInput when it is outside what is stored."""
    try:
        aware = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        aware = None
    if aware is None or not EARLIEST <= aware <= LATEST:
        raise InvalidInput(
            f"{name} is {value.isoformat()}; give a time between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
        )
    return aware


async def time_window(  # async: a plain def would run in the thread pool for a few comparisons
    since: datetime | None = Query(default=None, description="Start (ISO 8601; no zone means UTC)."),
    until: datetime | None = Query(default=None, description="End, exclusive (default: now)."),
    days: int = Query(default=30, ge=1, le=3660, description="Length when since is not given."),
) -> Window:
    end = bounded(until, "until") if until else datetime.now(UTC)
    start = bounded(since, "since") if since else end - timedelta(days=days)
    if start >= end:
        raise InvalidInput(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    return Window(start, end)


WindowDep = Annotated[Window, Depends(time_window)]
