"""Every response carries an X-Request-ID, and every log line written for the request carries the
same id: the thread a synchronous route runs in included. A proxy's sane id is kept, anything else
replaced. KBCHAT_LOG_FORMAT=json writes one parseable object per line."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from backend.logging_setup import JsonFormatter, configure_logging, request_id
from tests.conftest import create_kb, wait_for_job


def test_a_request_id_is_made_or_kept_and_returned(client: TestClient) -> None:
    made = client.get("/v1/knowledge-bases").headers["x-request-id"]
    assert len(made) == 16 and made != client.get("/v1/knowledge-bases").headers["x-request-id"]
    kept = client.get("/v1/knowledge-bases", headers={"X-Request-ID": "lb-7f3a.42"})
    assert kept.headers["x-request-id"] == "lb-7f3a.42"
    for insane in ("x" * 65, "two words", "<script>"):
        replaced = client.get("/healthz", headers={"X-Request-ID": insane}).headers["x-request-id"]
        assert replaced != insane and len(replaced) == 16
    missing = client.get("/v1/knowledge-bases/nope")  # errors carry it too
    assert missing.status_code == 404 and missing.headers["x-request-id"]


def test_the_log_lines_of_a_request_carry_its_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    kb_id = create_kb(client, "logged")
    upload = {"title": "returns-policy", "text": "Return within 45 days."}
    accepted = client.post(f"/v1/knowledge-bases/{kb_id}/documents", json=upload).json()["documents"][0]
    wait_for_job(client, accepted["job_id"])
    document = accepted["document_id"]
    gone = client.delete(
        f"/v1/knowledge-bases/{kb_id}/documents/{document}", headers={"X-Request-ID": "req-1"}
    )
    assert gone.status_code == 204  # a synchronous route: it runs in the thread pool
    mine = [r for r in caplog.records if document in r.getMessage() and "deleted" in r.getMessage()]
    assert mine and all(r.request_id == "req-1" for r in mine), [(r.getMessage(), r.request_id) for r in mine]
    assert request_id.get() == "-"  # nothing leaks out of the request


def test_json_log_lines_parse(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    token = request_id.set("req-2")
    try:
        logging.getLogger("kbchat.test").warning("disk %d%% full", 91)
    finally:
        request_id.reset(token)
        configure_logging("INFO", "text")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "disk 91% full" and line["request_id"] == "req-2" and line["level"] == "WARNING"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, None)
    assert json.loads(JsonFormatter().format(record))["request_id"] == "-"
