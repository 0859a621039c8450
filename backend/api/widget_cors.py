"""CORS for the widget, answered per knowledge base: only an origin the widget dependency accepted
(``request.state.cors_origin``, backend/api/routes/widget.py) gets the headers, on success and on
errors like 429, so the page can read why it was refused.

A pure ASGI middleware, like the others here: Starlette's ``@app.middleware("http")`` wraps every
request in a task group and every response in a memory stream, about a millisecond a request on these
2 cores for three headers on the widget's routes (bench/http_search.py, docs/benchmarks.md)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class WidgetCorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # the dict request.state reads and writes

        async def send_with_cors(message: Message) -> None:
            origin = state.get("cors_origin") if message["type"] == "http.response.start" else None
            if origin:
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = origin
                headers["Vary"] = "Origin"
                headers["Access-Control-Expose-Headers"] = "Retry-After"
            await send(message)

        await self.app(scope, receive, send_with_cors)
