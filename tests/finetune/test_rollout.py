"""Fine-tune through the API, then activate the new encoder while searches run: no search fails or
comes back empty, the alias and the registry agree, a restart keeps the new encoder, and a rollback
to the base encoder works the same way. Real encoder, real training, real local Qdrant."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from backend.api.app import create_app
from tests.conftest import AUTH, create_kb, ingest, wait_for_job
from tests.fixtures_docs import BILLING_HTML, GUIDE_MD, SHIPPING_TXT

TOPICS = [
    ("reset the admin password", "Hold the reset button on the back for ten seconds with a paperclip."),
    (
        "router light is not green",
        "Wait two minutes after plugging in until the front light turns solid green.",
    ),
    ("firmware update schedule", "Firmware updates install automatically every Sunday at 3 a.m."),
    ("refund duration", "Refunds reach the original payment method within five business days."),
    ("invoice emails", "Invoices are emailed on the first business day of the month."),
    ("shipping warehouse", "Orders ship from the Rotterdam warehouse on weekdays."),
    ("wan cable colour", "Connect the WAN port to your modem with the yellow cable."),
    ("start an update manually", "Start a firmware update from Settings > System."),
]
PAIRS = [
    {"query": template.format(topic), "positive": answer, "doc_id": f"d{i}"}
    for i, (topic, answer) in enumerate(TOPICS)
    for template in ("how do I handle {}?", "{}")
]


def _search(client: TestClient, kb_id: str) -> tuple[int, int]:
    response = client.post(
        f"/v1/knowledge-bases/{kb_id}/search", json={"query": "how do I reset the admin password"}
    )
    return response.status_code, len(response.json().get("results", [])) if response.status_code == 200 else 0


def test_finetune_activate_during_live_search_restart_and_roll_back(make_settings, embedder) -> None:
    settings = make_settings(encoder={"drop_old_after_s": 0.2, "follow_interval_s": 0.5})
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client)
        ingest(
            client,
            kb_id,
            [
                ("guide.md", GUIDE_MD, "text/markdown"),
                ("billing.html", BILLING_HTML, "text/html"),
                ("shipping.txt", SHIPPING_TXT, "text/plain"),
            ],
        )
        bad = client.post(f"/v1/knowledge-bases/{kb_id}/finetune", json={"options": {"loss": "magic"}})
        assert bad.status_code == 422 and "loss" in bad.text
        response = client.post(
            f"/v1/knowledge-bases/{kb_id}/finetune",
            json={
                "pairs": PAIRS,
                "eval_fraction": 0.25,
                "options": {
                    "loss": "moco",
                    "epochs": 1,
                    "batch_size": 4,
                    "queue_size": 16,
                    "hard_negatives": 1,
                },
                "name": "support-v1",
            },
        )
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["id"], timeout=600)
        assert job["status"] == "succeeded", job
        result = job["result"]
        assert result["name"] == "support-v1" and result["mode"] == "pairs" and result["train_pairs"] == 12
        assert set(result["before"]) >= {"ndcg@10", "recall@10", "mrr@10"} and result["steps"] >= 1

        listed = client.get("/v1/encoders").json()
        assert listed["active"] == "base" and [v["name"] for v in listed["data"]] == ["support-v1"]
        assert listed["data"][0]["metrics"]["after"] == result["after"]
        chart = client.get("/v1/encoders/support-v1/chart.png")
        assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
        assert client.get("/v1/encoders/nope").status_code == 404
        services = client.app.state.services  # type: ignore[attr-defined]
        old_collection, old_model = services.vectors.collection, services.embedder.model_id

        # Activate while a client searches without pause.
        outcomes: list[tuple[int, int]] = []
        stop = threading.Event()

        def search_forever() -> None:
            while not stop.is_set():
                outcomes.append(_search(client, kb_id))

        searcher = threading.Thread(target=search_forever)
        searcher.start()
        try:
            activation = client.post("/v1/encoders/support-v1/activate")
            assert activation.status_code == 202, activation.text
            again = client.post("/v1/encoders/support-v1/activate")
            assert again.status_code == 409 and "still" in again.json()["error"]["message"]
            done = wait_for_job(client, activation.json()["id"], timeout=300)
        finally:
            stop.set()
            searcher.join(30)
        assert done["status"] == "succeeded", done
        assert len(outcomes) >= 5 and all(status == 200 and found > 0 for status, found in outcomes), outcomes
        assert done["result"]["chunks"] == services.vectors.count(kb_id=kb_id)
        assert client.get("/v1/encoders").json()["active"] == "support-v1"
        new_model = client.get("/readyz").json()["checks"]["encoder"]
        assert new_model != old_model and new_model.startswith("model@")
        assert services.vectors.active_collection() == services.vectors.collection != old_collection
        assert not services.vectors.collection_exists(old_collection)

    # A restart loads the active version from the registry, not the configured model.
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        assert client.get("/readyz").json()["checks"]["encoder"] == new_model
        assert _search(client, kb_id) == (200, 5)
        rollback = client.post("/v1/encoders/base/activate")
        assert rollback.status_code == 202, rollback.text
        assert wait_for_job(client, rollback.json()["id"], timeout=300)["status"] == "succeeded"
        assert client.get("/v1/encoders").json()["active"] == "base"
        assert client.get("/readyz").json()["checks"]["encoder"] == old_model
        assert _search(client, kb_id) == (200, 5)
        assert client.post("/v1/encoders/base/activate").status_code == 409  # already active
