"""GET /metrics: the Prometheus text format (parsed with prometheus-client's own parser), counting a
known sequence of requests exactly, by route template, never by id; protected by a token."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from backend.api.app import create_app
from tests.conftest import AUTH, TOKEN, create_kb, wait_for_job


def _samples(client: TestClient, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_metrics_count_requests_by_route_template_and_need_a_token(make_settings, embedder) -> None:
    app = create_app(make_settings(metrics_token="scrape-0123456789"), embedder=embedder)
    with TestClient(app) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client, "metered")
        posted = client.post(
            f"/v1/knowledge-bases/{kb_id}/documents", json={"title": "t", "text": "Ships from Rotterdam."}
        )
        wait_for_job(client, posted.json()["documents"][0]["job_id"])  # searchable before it is searched
        for _ in range(3):
            client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": "where from?"})
        client.get("/v1/knowledge-bases/nope")
        client.get("/no/such/path")

        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
        samples = _samples(client, "scrape-0123456789")
        search = "/v1/knowledge-bases/{kb_id}/search"
        key = ("kbchat_http_requests_total", (("method", "POST"), ("route", search), ("status", "200")))
        assert samples.get(key) == 3, [k for k in samples if "requests_total" in k[0]]
        missing = (("method", "GET"), ("route", "/v1/knowledge-bases/{kb_id}"), ("status", "404"))
        assert samples[("kbchat_http_requests_total", missing)] == 1
        unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
        assert samples[("kbchat_http_requests_total", unmatched)] == 1
        assert not any(kb_id in value for _, labels in samples for _, value in labels)  # no ids as labels
        timed = (("le", "+Inf"), ("method", "POST"), ("route", search))
        assert samples[("kbchat_http_request_duration_seconds_bucket", timed)] == 3
        assert samples[("kbchat_search_stage_seconds_count", (("stage", "encode"),))] == 3
        assert samples[("kbchat_search_stage_seconds_count", (("stage", "candidates"),))] == 3
        assert samples[("kbchat_search_queue_seconds_count", ())] == 3  # each search went through the lane
        # The passage's sentence vectors were stored at ingestion: no search encoded any.
        assert samples[("kbchat_search_sentences_total", (("source", "stored"),))] >= 3
        assert ("kbchat_search_sentences_total", (("source", "encoded"),)) not in samples
        jobs = [
            v
            for (name, labels), v in samples.items()
            if name == "kbchat_jobs" and ("kind", "ingest") in labels
        ]
        assert sum(jobs) == 1


def test_without_a_metrics_token_the_admin_token_reads_them(client: TestClient) -> None:
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    samples = _samples(client, TOKEN)
    assert any(name == "kbchat_http_requests_total" for name, _ in samples)


def test_the_grafana_dashboard_reads_only_metrics_the_service_exposes(client: TestClient) -> None:
    """docs/grafana-dashboard.json must not drift from the names /metrics serves."""
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text())
    used = {
        re.sub(r"_(bucket|sum|count|total)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"kbchat_[a-z_]+", target["expr"])
    }
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    served = {family.name for family in text_string_to_metric_families(response.text)}
    assert used and used <= served, used - served
