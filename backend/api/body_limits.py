"""Request bodies are bounded before they are read, and big ones are only read for a known caller.

FastAPI reads and parses a JSON body before any dependency runs, so without this a caller with no
token could make the server buffer (and parse) hundreds of megabytes only to be told 401. This pure
ASGI middleware runs first and, per route family (JSON API, public widget, document uploads):

1. answers 413 at once when ``Content-Length`` is over the family's limit, reading nothing;
2. for a body that may be large (declared over ``AUTH_FIRST_BYTES``, or streamed without a length)
   on a bearer-authenticated route, checks the bearer first: no or wrong token is a 401, unread;
3. counts the bytes as the application reads them and stops at the limit with a 413, so a streamed
   (chunked) body, or a multipart upload being spooled, is cut off as soon as it passes the limit.

The route's own authentication and scope checks still run afterwards, unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.auth import MISSING, principal_for
from backend.api.errors import error_response
from backend.errors import KbchatError, Unauthorized

AUTH_FIRST_BYTES = 64 * 1024
"""Bodies up to this size are read before authentication, as FastAPI does: checking the token here
as well would cost every small request a second key lookup for nothing."""
_UPLOAD = re.compile(r"^/v1/knowledge-bases/[^/]+/documents/?$")


@dataclass(frozen=True, slots=True)
class BodyLimits:
    json_bytes: int
    widget_bytes: int
    upload_bytes: int

    def family(self, method: str, path: str) -> tuple[str, int]:
        if path.startswith("/v1/widget/"):
            return "widget", self.widget_bytes
        if method == "POST" and _UPLOAD.match(path):
            return "upload", self.upload_bytes
        return "json", self.json_bytes


_SETTING = {
    "json": "KBCHAT_LIMITS__JSON_BYTES",
    "widget": "KBCHAT_LIMITS__WIDGET_BYTES",
    "upload": "KBCHAT_LIMITS__UPLOAD_BYTES",
}


def _too_large(family: str, limit: int) -> str:
    return (
        f"the request body is larger than {limit:,} bytes, the limit for this endpoint ({_SETTING[family]})"
    )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        family, limit = self.limits.family(method, path)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length_header = headers.get("content-length")
        try:
            length = int(length_header) if length_header is not None else None
        except ValueError:
            await _send(scope, receive, send, 400, "bad_request", "Content-Length is not a number")
            return
        if length is not None and length > limit:
            await _send(scope, receive, send, 413, "payload_too_large", _too_large(family, limit))
            return
        may_be_large = (length is None and "transfer-encoding" in headers) or (length or 0) > AUTH_FIRST_BYTES
        if may_be_large and family != "widget" and path.startswith("/v1/"):
            refused = await _refusal(scope["app"].state, headers.get("authorization", ""))
            if refused is not None:
                challenge = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else {}
                await _send(scope, receive, send, refused.status, refused.code, refused.message, challenge)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI's HTTPException, not our own error: FastAPI turns anything else raised
                    # while it reads a body into a generic 400 "error parsing the body".
                    raise HTTPException(413, _too_large(family, limit))
            return message

        await self.app(scope, limited, send)


async def _refusal(state: Any, authorization: str) -> KbchatError | None:
    """Why the bearer cannot be let in, checked as the route will check it (None: it may)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Unauthorized(MISSING)
    try:
        await anyio.to_thread.run_sync(principal_for, token.strip(), state)
    except KbchatError as exc:
        return exc
    return None


async def _send(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> None:
    response = error_response(status, code, message, {**(headers or {}), "Connection": "close"})
    await response(scope, receive, send)
