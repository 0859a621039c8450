"""A request id on every request: taken from ``X-Request-ID`` when a proxy set a sane one, otherwise
made here; returned in the response's ``X-Request-ID`` and written on every log line of the request
(:data:`backend.logging_setup.request_id`). A pure ASGI middleware: it reads no body and wraps nothing
in a task group, so streamed answers and errors pass through as they are."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.logging_setup import request_id, stamp_request_ids

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
"""An incoming id is kept only if it is short and plain: it is echoed into headers and logs."""


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        stamp_request_ids()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(HEADER, b"")
        rid = given.decode() if _SANE.fullmatch(given) else uuid.uuid4().hex[:16]
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = [h for h in message.get("headers", []) if h[0].lower() != HEADER]
                message["headers"] = [*headers, (HEADER, rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
