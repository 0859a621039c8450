"""Analytics from stored conversations: top questions grouped by meaning, content gaps, source
usage, feedback, leads, CSV; computed by the real encoder over real chats."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from backend.db.models import QuestionVector
from tests.conftest import create_kb, ingest
from tests.fixtures_docs import BILLING_HTML, GUIDE_MD, SHIPPING_TXT

pytestmark = pytest.mark.both_databases  # aggregates and date arithmetic in SQL

SHIPPING = ["Where do orders ship from?", "where do orders ship from", "From where are orders shipped?"]
PASSWORD = ["How do I reset the admin password?", "I forgot the admin password of my router"]
OFF_TOPIC = ["What is the CEO's favourite colour?", "Which football team does the CEO support?"]


def _ask(client: TestClient, kb_id: str, question: str) -> dict:
    response = client.post(f"/v1/knowledge-bases/{kb_id}/chat", json={"message": question})
    assert response.status_code == 200, response.text
    return response.json()


def _report(client: TestClient, kb_id: str, name: str, **params: object) -> list | dict:
    response = client.get(f"/v1/knowledge-bases/{kb_id}/analytics/{name}", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_reports_tell_what_visitors_ask_and_what_is_missing(client: TestClient) -> None:
    kb_id = create_kb(client)
    jobs = ingest(
        client,
        kb_id,
        [
            ("shipping.txt", SHIPPING_TXT, "text/plain"),
            ("guide.md", GUIDE_MD, "text/markdown"),
            ("billing.html", BILLING_HTML, "text/html"),
        ],
    )
    assert all(j["status"] == "succeeded" for j in jobs)
    answers = {q: _ask(client, kb_id, q) for q in SHIPPING + PASSWORD + OFF_TOPIC}
    for q in OFF_TOPIC:
        client.post(
            f"/v1/knowledge-bases/{kb_id}/messages/{answers[q]['message_id']}/feedback",
            json={"rating": "down"},
        )
    client.post(
        f"/v1/knowledge-bases/{kb_id}/messages/{answers[SHIPPING[0]]['message_id']}/feedback",
        json={"rating": "up"},
    )

    top = _report(client, kb_id, "top-questions")
    assert top[0]["label"] == SHIPPING[0] and top[0]["count"] == 3 and top[0]["up"] == 1
    assert set(top[0]["examples"]) == {SHIPPING[0], SHIPPING[2]}  # case and "?" fold into one phrasing
    assert sum(g["count"] for g in top) == 7
    labels = {g["label"] for g in top}
    assert not set(OFF_TOPIC) <= {e for g in top if g["label"] == SHIPPING[0] for e in g["examples"]}
    assert PASSWORD[0] in labels or PASSWORD[1] in labels

    gaps = _report(client, kb_id, "content-gaps")
    gap_questions = {e for g in gaps for e in g["examples"]}
    assert set(OFF_TOPIC) <= gap_questions
    assert not set(SHIPPING) & gap_questions
    assert all(g["reasons"] for g in gaps)
    assert sum(g["reasons"].get("downvoted", 0) for g in gaps) == 2

    sources = _report(client, kb_id, "sources")
    by_title = {s["title"]: s for s in sources}
    assert sources[0]["citations"] >= 3 and sources[0]["title"] == by_title[sources[0]["title"]]["title"]
    assert by_title["Billing FAQ"]["citations"] == 0 and by_title["Billing FAQ"]["last_cited"] is None

    summary = _report(client, kb_id, "summary")
    assert summary["questions"] == 7 and summary["answers"] == 7 and summary["conversations"] == 7
    assert summary["feedback_down"] == 2 and summary["feedback_up"] == 1
    assert 0 < summary["grounded_answers"] < 7
    feedback = _report(client, kb_id, "feedback")
    assert [(d["up"], d["down"]) for d in feedback] == [(1, 2)]

    exported = client.get(f"/v1/knowledge-bases/{kb_id}/analytics/top-questions", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert exported.headers["content-type"].startswith("text/csv")
    assert rows[0]["label"] == SHIPPING[0] and rows[0]["count"] == "3"


def test_questions_without_stored_vectors_are_encoded_once_and_kept(client: TestClient) -> None:
    kb_id = create_kb(client)
    ingest(client, kb_id, [("shipping.txt", SHIPPING_TXT, "text/plain")])
    for q in SHIPPING:
        _ask(client, kb_id, q)
    sessions = client.app.state.services.sessions  # type: ignore[attr-defined]
    before = _report(client, kb_id, "top-questions")
    with sessions.begin() as session:  # as after an encoder change, or for chats from before analytics
        session.execute(delete(QuestionVector))
    assert _report(client, kb_id, "top-questions") == before
    with sessions() as session:
        # One embedding per distinct phrasing ("Where do orders ship from?" twice, folded), not per question.
        assert session.scalar(select(func.count()).select_from(QuestionVector)) == 2


def test_reports_answer_bad_requests_clearly(client: TestClient) -> None:
    kb_id = create_kb(client)
    unknown = client.get(f"/v1/knowledge-bases/{kb_id}/analytics/popularity")
    assert unknown.status_code == 404 and "top-questions" in unknown.json()["error"]["message"]
    backwards = client.get(
        f"/v1/knowledge-bases/{kb_id}/analytics/summary",
        params={"since": "2026-02-01T00:00:00", "until": "2026-01-01T00:00:00"},
    )
    assert backwards.status_code == 422 and "before" in backwards.json()["error"]["message"]
    assert client.get("/v1/knowledge-bases/nope/analytics/summary").status_code == 404
    empty = client.get(f"/v1/knowledge-bases/{kb_id}/analytics/top-questions", params={"format": "csv"})
    assert empty.status_code == 200 and empty.text.strip() == "(no data in this window)"
    assert _report(client, kb_id, "summary")["grounded_rate"] is None
