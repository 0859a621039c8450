"""``create_app(settings)``: the FastAPI application, with every resource built in its lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import APIRouter, Depends, FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from backend.api.auth import authenticate
from backend.api.body_limits import BodyLimitMiddleware, BodyLimits
from backend.api.errors import install_error_handlers
from backend.api.metrics import Metrics, MetricsMiddleware, metrics_response
from backend.api.ratelimit import make_limiter
from backend.api.request_id import RequestIdMiddleware
from backend.api.routes import (
    analytics,
    backups,
    console,
    conversations,
    documents,
    duplicates,
    encoders,
    health,
    integrations,
    jobs,
    keys,
    knowledge_bases,
    openai_compat,
    search,
    sources,
    whoami,
    widget,
    widget_assets,
    widget_contact,
)
from backend.api.tracing_middleware import TracingMiddleware
from backend.api.widget_cors import WidgetCorsMiddleware
from backend.encoder.base import Embedder
from backend.services import Services, admin_token
from backend.settings import Settings

log = logging.getLogger(__name__)


async def _follow_encoder(services: Services, interval_s: float) -> None:
    """Follow encoder switches made by another process (a separate worker) within ``interval_s``."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await anyio.to_thread.run_sync(services.follow_encoders)
        except Exception:  # the database blinked: try again next time, never stop following
            log.exception("could not read which encoder serves each knowledge base; retrying")


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> FastAPI:
    """Build the app. ``embedder`` lets tests and benchmarks share one loaded model across apps."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.admin_token = admin_token(settings)
        services = await anyio.to_thread.run_sync(lambda: Services.build(settings, embedder=embedder))
        app.state.services = services
        if settings.worker.embedded:
            services.start_workers()
        log.info(
            "kbchat ready: database %s, vectors %s (%s), base encoder %s",
            services.engine.url.render_as_string(hide_password=True),
            settings.vector_backend,
            services.encoders.base.vectors.collection,
            services.encoders.base.model_id,
        )
        follower = None
        if settings.encoder.follow_interval_s > 0:
            follower = asyncio.create_task(_follow_encoder(services, settings.encoder.follow_interval_s))
        try:
            yield
        finally:
            if follower is not None:
                follower.cancel()
            await services.aclose()

    app = FastAPI(
        title="kbchat",
        version="0.1.0",
        summary="Knowledge-base chat backend: upload, search by meaning, cited answers.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.state.metrics = Metrics(lambda: app.state.services.sessions)
    app.state.metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    app.add_api_route(
        "/metrics", metrics_response, methods=["GET"], tags=["health"], summary="Prometheus metrics"
    )
    # Routes are matched in order, each router's in turn (FastAPI scans them twice per request): the
    # widget's and the API's questions first, as nearly every request is one. No two routers here share
    # a path, so the order changes only how long matching takes.
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authenticate)])
    for module in (
        search,
        openai_compat,
        knowledge_bases,
        documents,
        duplicates,
        jobs,
        encoders,
        keys,
        conversations,
        integrations,
        analytics,
        whoami,
        backups,
        sources,
    ):
        v1.include_router(module.router)
    for module in (widget, widget_contact):  # public keys: authorised per origin, not by bearer
        app.include_router(module.router, prefix="/v1")
    app.include_router(v1)
    app.include_router(health.router)
    app.include_router(widget_assets.router)
    app.include_router(console.router)
    app.state.rate_limiter = make_limiter(settings.rate_limit_redis_url)
    # Bodies are bounded (and a big one's bearer checked) before the route reads them. Innermost of
    # the middlewares, none of which reads a body; all are pure ASGI (no BaseHTTPMiddleware task group
    # wraps an error raised while the route reads, or a streamed answer).
    limits = settings.limits
    app.add_middleware(
        BodyLimitMiddleware,
        limits=BodyLimits(limits.json_bytes, limits.widget_bytes, limits.upload_bytes),
    )
    # Behind a reverse proxy, the visitor is the last address the trusted proxies appended to
    # X-Forwarded-For (uvicorn's well-tested middleware; `kbchat serve` turns uvicorn's own off).
    if settings.trusted_proxies:  # none by default: a direct client cannot name its own address
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(TracingMiddleware)  # a no-op unless KBCHAT_OTEL_ENDPOINT turned tracing on
    app.add_middleware(RequestIdMiddleware)  # every log line of the request carries it
    app.add_middleware(WidgetCorsMiddleware)  # outermost, as the decorator it replaced was

    return app
