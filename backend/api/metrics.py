"""``GET /metrics`` in the Prometheus text format, with prometheus-client (the reference library).

The HTTP side lives here: requests by route *template* (``/v1/knowledge-bases/{kb_id}/search``, never
the ids, so the series stay few) and status (429: rate-limited) with a latency histogram. The job
queue by kind and status, and running jobs' progress (fine-tuning, re-indexing, big uploads), are read
from the database at scrape time, so every process reports the same truth. The rest (search stages,
chat, jobs finished, ingestion, the encoder) is the services' :class:`~backend.telemetry.Telemetry`,
served beside it. Each app has its own registries (several apps in one test process must not collide).

Protected: ``KBCHAT_METRICS_TOKEN`` as a bearer when set, else the admin token; anything else is 401.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import Unauthorized
from backend.telemetry import LATENCY_BUCKETS, QueueCollector


class Metrics:
    def __init__(self, sessions: Callable[[], Any]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kbchat_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kbchat_http_request_duration_seconds",
            "HTTP request time, to the last byte sent.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(QueueCollector(sessions))


def route_template(scope: Scope) -> str:
    """The request's path with each path parameter's value put back as ``{name}``
    (``/v1/knowledge-bases/{kb_id}/search``), so series stay few and hold no ids; ``unmatched`` when
    no route matched (any path, so never a label value). Rebuilt from the path because a route
    included through a prefixed router knows only its own part of the template."""
    if scope.get("route") is None:
        return "unmatched"
    names = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    segments = str(scope.get("path", "")).split("/")
    return "/".join(f"{{{names.pop(seg)}}}" if seg in names else seg for seg in segments)


class StatusOf:
    """A ``send`` that remembers the response status it passed on (500 until one is sent: a request
    that raised before answering counts as a server error)."""

    def __init__(self, send: Send) -> None:
        self.send, self.status = send, 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: streams pass through as they are)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, sent = time.perf_counter(), StatusOf(send)
        try:
            await self.app(scope, receive, sent)
        finally:
            route, method = route_template(scope), scope["method"]
            self.metrics.requests.labels(method, route, str(sent.status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def metrics_response(request: Request) -> Response:
    state = request.app.state
    expected = state.metrics_token or state.admin_token
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        raise Unauthorized(
            "metrics need 'Authorization: Bearer <KBCHAT_METRICS_TOKEN>' (the admin token when none is set)"
        )
    body = generate_latest(state.metrics.registry) + generate_latest(state.services.telemetry.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
