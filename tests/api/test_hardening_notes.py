"""The smaller findings of the hardening review: the SQLite file is its owner's alone, no proxy is
believed unless configured, and an identical upload is "unchanged" only once the first copy is in."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from tests.conftest import AUTH, TOKEN, create_kb


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path, embedder) -> None:
    from backend.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", admin_token=TOKEN)  # type: ignore[arg-type]
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        create_kb(client)
    for file in (tmp_path / "data").glob("kbchat.db*"):
        assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0, file


def test_forwarded_addresses_are_ignored_unless_a_proxy_is_configured(make_settings, embedder) -> None:
    settings = make_settings()
    assert settings.trusted_proxies == []
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client)
        client.patch(
            f"/v1/knowledge-bases/{kb_id}",
            json={"widget": {"allowed_origins": ["https://a.example"], "messages_per_minute": 1}},
        )
        key = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"kind": "widget"}).json()["key"]
        statuses = [
            client.post(
                f"/v1/widget/{key}/chat",
                json={"message": "hello?"},
                headers={"Origin": "https://a.example", "X-Forwarded-For": f"203.0.113.{i}"},
            ).status_code
            for i in range(2)
        ]
        assert statuses == [200, 429]  # a rotated X-Forwarded-For is not a new visitor


@pytest.mark.both_databases  # a uniqueness race
def test_an_identical_upload_follows_the_first_until_it_is_stored(make_settings, embedder) -> None:
    with TestClient(create_app(make_settings(worker={"embedded": False}), embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client)
        files = [("files", ("a.txt", b"Returns are accepted for 30 days.", "text/plain"))]
        first = client.post(f"/v1/knowledge-bases/{kb_id}/documents", files=files).json()["documents"][0]
        again = client.post(f"/v1/knowledge-bases/{kb_id}/documents", files=files).json()["documents"][0]
        assert again["unchanged"] is False and again["status"] == "queued"
        assert (again["document_id"], again["job_id"]) == (first["document_id"], first["job_id"])


def test_a_visitor_rates_an_answer_once_and_public_writes_are_rate_limited(make_settings, embedder) -> None:
    from tests.conftest import ingest
    from tests.fixtures_docs import SHIPPING_TXT

    site = {"Origin": "https://a.example"}
    with TestClient(create_app(make_settings(), embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client)
        ingest(client, kb_id, [("shipping.txt", SHIPPING_TXT, "text/plain")])
        widget = {"allowed_origins": [site["Origin"]], "messages_per_minute": 4}
        client.patch(f"/v1/knowledge-bases/{kb_id}", json={"widget": widget})
        key = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"kind": "widget"}).json()["key"]
        answer = client.post(
            f"/v1/widget/{key}/chat", json={"message": "Where do orders ship from?"}, headers=site
        )
        message_id = answer.json()["message_id"]
        votes = [
            client.post(
                f"/v1/widget/{key}/messages/{message_id}/feedback",
                json={"rating": rating, "comment": "x" * 2000},
                headers=site,
            ).status_code
            for rating in ("down", "down", "down", "up", "down", "down")
        ]
        assert votes == [201, 201, 201, 201, 429, 429]  # four writes a minute for this visitor
        report = client.get(f"/v1/knowledge-bases/{kb_id}/analytics/feedback").json()["data"]
        assert sum(day["up"] for day in report) == 1 and sum(day["down"] for day in report) == 0  # one vote
        lead = client.post(f"/v1/widget/{key}/leads", json={"email": "a@example.com"}, headers=site)
        assert lead.status_code == 429  # the same write budget
        chat = client.post(f"/v1/widget/{key}/chat", json={"message": "And returns?"}, headers=site)
        assert chat.status_code == 200  # questions are counted apart from writes
