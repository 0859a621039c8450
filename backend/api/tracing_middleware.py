"""A server span per HTTP request when tracing is on (backend/tracing.py), continuing the caller's
``traceparent``; named by method and route *template* once routing has found it."""

from __future__ import annotations

from opentelemetry import propagate, trace
from starlette.types import ASGIApp, Receive, Scope, Send

from backend import tracing
from backend.api.metrics import StatusOf, route_template


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
            sent = StatusOf(send)
            try:
                await self.app(scope, receive, sent)
            finally:
                route, status = route_template(scope), sent.status
                span.update_name(f"HTTP {method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(trace.StatusCode.ERROR)
