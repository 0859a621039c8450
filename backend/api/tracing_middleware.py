"""A server span per HTTP request when tracing is on (backend/tracing.py), continuing the caller's
``traceparent``; named by method and route *template* once routing has found it."""

from __future__ import annotations

from opentelemetry import propagate, trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend import tracing
from backend.api.metrics import route_template


class TracingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not tracing.enabled():
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        parent = propagate.extract(carrier)
        method = scope["method"]
        with tracing.tracer().start_as_current_span(
            f"HTTP {method}", context=parent, kind=trace.SpanKind.SERVER
        ) as span:
            status = 500

            async def traced_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = route_template(scope)
                span.update_name(f"HTTP {method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(trace.StatusCode.ERROR)
