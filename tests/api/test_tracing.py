"""OpenTelemetry traces with the real SDK and an in-memory exporter: a request continues the caller's
trace, a search shows its stages, a chat its LLM call, a worker its job and ingestion stages; no
visitor text in any attribute."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from backend import tracing
from tests.conftest import create_kb, wait_for_job, wait_until

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
QUESTION = "Where is the warehouse that scans parcels?"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure(None, exporter=exporter)
    yield exporter
    tracing.shutdown()


def test_requests_searches_chats_and_jobs_are_traced(spans: InMemorySpanExporter, client: TestClient) -> None:
    kb_id = create_kb(client, "traced")
    added = client.post(
        f"/v1/knowledge-bases/{kb_id}/documents",
        json={"title": "Returns", "text": "Parcels are scanned at our warehouse in Leeds."},
    )
    wait_for_job(client, added.json()["documents"][0]["job_id"])
    wait_until(lambda: any(s.name == "job ingest" for s in spans.get_finished_spans()), what="the job span")
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    found = client.post(
        f"/v1/knowledge-bases/{kb_id}/search", json={"query": QUESTION}, headers={"traceparent": traceparent}
    )
    assert found.status_code == 200
    client.post(f"/v1/knowledge-bases/{kb_id}/chat", json={"message": QUESTION})

    finished = spans.get_finished_spans()
    by_name = {s.name: s for s in finished}
    request = by_name["HTTP POST /v1/knowledge-bases/{kb_id}/search"]
    assert format(request.context.trace_id, "032x") == TRACE_ID  # the caller's trace continues
    assert request.attributes["http.response.status_code"] == 200
    searches = [
        s for s in finished if s.name == "kbchat.search" and s.context.trace_id == request.context.trace_id
    ]
    assert len(searches) == 1 and searches[0].parent.span_id == request.context.span_id
    stages = {
        s.name for s in finished if s.parent is not None and s.parent.span_id == searches[0].context.span_id
    }
    assert {"kbchat.search.encode", "kbchat.search.candidates", "kbchat.search.confidence"} <= stages
    llm = by_name["llm extractive"]
    assert llm.attributes["llm.outcome"] == "answered"
    assert {"job ingest", "ingest.prepare", "ingest.embed_store"} <= set(by_name)
    assert by_name["ingest.embed_store"].attributes["kbchat.documents"] == 1
    for span in finished:  # ids, counts and names only: never what a visitor or a document says
        assert not any("warehouse" in str(value).lower() for value in (span.attributes or {}).values())


def test_tracing_is_off_by_default(client: TestClient) -> None:
    assert not tracing.enabled()
    assert client.get("/healthz").status_code == 200
