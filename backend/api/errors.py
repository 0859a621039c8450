"""Every error leaves the API as ``{"error": {"code": ..., "message": ...}}``; mapped here, once."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.errors import KbchatError, RateLimited

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _location(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "query", "path")) or "request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KbchatError)
    async def _kbchat(_: Request, exc: KbchatError) -> JSONResponse:
        if exc.status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return error_response(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{_location(tuple(e['loc']))}: {e['msg']}" for e in exc.errors())
        return error_response(422, "invalid_input", problems or "the request body is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: "not_found",
            405: "method_not_allowed",
            400: "bad_request",
            413: "payload_too_large",
        }.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            500, "internal_error", "unexpected server error; the details are in the server log"
        )
