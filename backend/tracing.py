"""Optional OpenTelemetry traces: where one slow request, search or ingestion spent its time.

Off unless ``KBCHAT_OTEL_ENDPOINT`` names an OTLP/HTTP collector (the ``otel`` extra installs the SDK and
exporter); until then every span below is OpenTelemetry's no-op, which costs microseconds. Spans:

- ``HTTP {method} {route}``: each API request (route *templates*, never ids), continuing a caller's
  ``traceparent`` (backend/api/tracing_middleware.py);
- ``kbchat.search`` with a child per stage (encode, keywords, candidates, rerank, order, confidence,
  neighbours), built from the stage laps the search already takes;
- ``llm {provider}``: each provider attempt of a chat turn, with model, attempt and outcome;
- ``job {kind}``: each job or batch a worker runs, and inside an ingestion batch ``ingest.prepare``
  (read, parse, chunk) and ``ingest.embed_store`` per knowledge base.

Attributes carry ids, counts, modes and provider names: never a visitor's message, a document's text
or a key.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import trace

from backend.errors import InvalidInput

log = logging.getLogger(__name__)

_tracer: trace.Tracer = trace.NoOpTracer()
_provider: Any = None


def tracer() -> trace.Tracer:
    return _tracer


def enabled() -> bool:
    return _provider is not None


def configure(endpoint: str | None, *, service_name: str = "kbchat", exporter: Any = None) -> bool:
    """Send spans to ``endpoint`` (OTLP over HTTP), or to ``exporter`` (tests: an in-memory one). False
    when neither is given: tracing stays off."""
    global _tracer, _provider
    if endpoint is None and exporter is None:
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as exc:
        raise InvalidInput(
            "KBCHAT_OTEL_ENDPOINT is set but the OpenTelemetry SDK is missing: pip install 'kbchat[otel]' "
            "(or unset KBCHAT_OTEL_ENDPOINT)"
        ) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        log.info("tracing: spans go to %s as %s", endpoint, service_name)
    if _provider is not None:
        _provider.shutdown()
    _provider, _tracer = provider, provider.get_tracer("kbchat")
    return True


def shutdown() -> None:
    """Flush and stop (the process is ending, or a test is done with its exporter)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _provider, _tracer = None, trace.NoOpTracer()


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span around a block, a child of the current one; ``attributes`` with None values left out."""
    with _tracer.start_as_current_span(
        name, attributes={k: v for k, v in attributes.items() if v is not None}
    ) as current:
        yield current


def stages(laps: Mapping[str, float]) -> None:
    """Child spans, one per stage, from laps just measured (milliseconds, in order, ending now): the
    search times itself once, for its response and for traces."""
    if not enabled():
        return
    start = time.time_ns() - int(sum(laps.values()) * 1e6)
    for stage, ms in laps.items():
        end = start + int(ms * 1e6)
        _tracer.start_span(f"kbchat.search.{stage}", start_time=start).end(end_time=end)
        start = end
