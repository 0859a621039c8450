"""What every HTTP provider shares: server-sent events parsing and error translation at the boundary.

Translation rules: 429 and 5xx are retryable :class:`UpstreamError`; other 4xx are not (a wrong model
name or key will not fix itself); timeouts are :class:`UpstreamTimeout`; connection failures are
retryable. Messages quote the provider's own error text, truncated, and never a request header, so
keys cannot leak into responses or logs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from backend.errors import UpstreamError, UpstreamTimeout


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of a ``text/event-stream`` body; ``event`` is "message" when unnamed."""
    event, data = "message", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield event, "\n".join(data)


def _provider_message(body: bytes) -> str:
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:300]
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


async def check(response: httpx.Response, provider: str) -> None:
    if response.status_code < 400:
        return
    body = await response.aread()
    retryable = response.status_code == 429 or response.status_code >= 500
    raise UpstreamError(
        f"{provider} answered HTTP {response.status_code}: {_provider_message(body)}",
        provider=provider,
        retryable=retryable,
    )


@contextlib.asynccontextmanager
async def translated(provider: str) -> AsyncIterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(
            f"{provider} did not answer in time ({exc.__class__.__name__})", provider=provider
        ) from None
    except httpx.TransportError as exc:
        raise UpstreamError(
            f"{provider} is unreachable: {exc.__class__.__name__}", provider=provider, retryable=True
        ) from None


def data_json(data: str, provider: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise UpstreamError(
            f"{provider} sent an event that is not JSON: {data[:100]!r}", provider=provider
        ) from None
    return value if isinstance(value, dict) else {}
