"""Each knowledge base gets its own encoder. Two knowledge bases hold the same documents; A is
fine-tuned and its new version activated while both are searched without pause: B's results stay
identical to the byte, A's come from the new encoder, no search fails. Then: ownership and bad
input, a restart, a rollback of A alone, the sweep of old points and unused collections, deletion.
Real encoder, real training, real Qdrant Edge, SQLite and PostgreSQL."""

from __future__ import annotations

import time
from functools import partial

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.app import create_app
from backend.db.models import EncoderVersion, EncoderVersionStatus, Job, JobStatus
from backend.jobs.kinds import SWEEP_JOB
from backend.vectorstore.base import SENTENCES, VectorStore
from tests.conftest import AUTH, create_kb, ingest, searched_without_pause, wait_for_job, wait_until
from tests.finetune.versions import register_copy
from tests.fixtures_docs import BILLING_HTML, GUIDE_MD, PAIRS, SHIPPING_TXT, SHOP_ARTICLES, shop_pairs

DOCS = [
    ("guide.md", GUIDE_MD, "text/markdown"),
    ("billing.html", BILLING_HTML, "text/html"),
    ("shipping.txt", SHIPPING_TXT, "text/plain"),
]
QUERIES = ["how do I reset the admin password", "when do refunds arrive", "which cable goes to the modem"]
TRAINING = {"loss": "moco", "epochs": 1, "batch_size": 4, "queue_size": 16, "hard_negatives": 1}


def _results(client: TestClient, kb_id: str, query: str) -> tuple[int, list[tuple[str, float]]]:
    response = client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": query, "top_k": 5})
    if response.status_code != 200:
        return response.status_code, []
    return 200, [(r["id"], r["score"]) for r in response.json()["results"]]


def _wait_for_sweeps(client: TestClient, timeout: float = 60) -> None:
    """Until no sweep of old points is queued or running (they run after the grace period)."""
    sessions = client.app.state.services.sessions  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            live = session.scalars(
                select(Job.id).where(
                    Job.kind == SWEEP_JOB, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])
                )
            ).all()
        if not live:
            return
        time.sleep(0.05)
    raise AssertionError("the sweep of old points did not finish")


def _payloads(vectors: VectorStore, kb_id: str) -> list[dict]:
    return [r.payload for batch in vectors.scan(kb_id=kb_id, vectors=False) for r in batch]


@pytest.mark.slow  # real training, then two activations under load (the service-wide one stays fast)
def test_fine_tuning_one_knowledge_base_never_touches_another(make_settings, embedder) -> None:
    settings = make_settings(encoder={"drop_old_after_s": 0.2, "follow_interval_s": 0.5})
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_a, kb_b = create_kb(client, "tenant-a"), create_kb(client, "tenant-b")
        ingest(client, kb_a, DOCS)
        ingest(client, kb_b, DOCS)
        services = client.app.state.services  # type: ignore[attr-defined]
        base_a = {q: _results(client, kb_a, q) for q in QUERIES}
        before_b = {q: _results(client, kb_b, q) for q in QUERIES}
        assert all(status == 200 and hits for status, hits in before_b.values())

        response = client.post(
            f"/v1/knowledge-bases/{kb_a}/finetune",
            json={"pairs": PAIRS, "eval_fraction": 0.25, "options": TRAINING, "name": "support-v1"},
        )
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["id"], timeout=600)
        assert job["status"] == "succeeded", job
        result = job["result"]
        assert result["name"] == "support-v1" and result["mode"] == "pairs" and result["train_pairs"] == 12
        assert result["replaces"] == "base" and result["steps"] >= 1
        version = client.get("/v1/encoders/support-v1").json()
        assert version["kb_id"] == kb_a and version["status"] == "ready" and not version["shared"]
        assert version["model_id"].startswith("support-v1@") and version["knowledge_bases"] == 0
        assert not version["path"].startswith("/")  # relative to the shared artifact folder
        chart = client.get("/v1/encoders/support-v1/chart.png")
        assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
        assert client.get(f"/v1/knowledge-bases/{kb_a}").json()["encoder"] == {
            "version": "base",
            "version_id": None,
            "keywords": "ml3",
        }

        # Bad input: a clear 4xx, and nothing changes.
        assert client.post(f"/v1/knowledge-bases/{kb_a}/encoder", json={"version": "nope"}).status_code == 404
        assert client.post(f"/v1/knowledge-bases/{kb_a}/encoder", json={"version": "base"}).status_code == 409
        foreign = client.post(f"/v1/knowledge-bases/{kb_b}/encoder", json={"version": "support-v1"})
        assert foreign.status_code == 404 and "share" in foreign.json()["error"]["message"]
        b_key = client.post(
            f"/v1/knowledge-bases/{kb_b}/keys", json={"name": "b", "scopes": ["manage"]}
        ).json()["key"]
        as_b = {"Authorization": f"Bearer {b_key}"}
        stolen = client.post(f"/v1/knowledge-bases/{kb_a}/encoder", json={"version": "base"}, headers=as_b)
        assert stolen.status_code == 404  # B's key cannot even see A
        assert client.post("/v1/encoders/support-v1/activate", headers=as_b).status_code == 403
        listed_for_b = client.get(f"/v1/knowledge-bases/{kb_b}/encoders", headers=as_b).json()
        assert listed_for_b == {"data": [], "active": "base", "base_knowledge_bases": 0}
        with services.sessions.begin() as session:
            session.add(
                EncoderVersion(
                    name="half-baked",
                    base_model="",
                    path="",
                    kb_id=kb_a,
                    data_hash="",
                    status=EncoderVersionStatus.TRAINING,
                )
            )
        training = client.post(f"/v1/knowledge-bases/{kb_a}/encoder", json={"version": "half-baked"})
        assert training.status_code == 409 and "training" in training.json()["error"]["message"]

        # Activate for A while A and B are searched without pause.
        search = partial(_results, client)
        with searched_without_pause(search, [kb_a, kb_b], QUERIES) as outcomes:
            activation = client.post(f"/v1/knowledge-bases/{kb_a}/encoder", json={"version": "support-v1"})
            assert activation.status_code == 202, activation.text
            again = client.post(f"/v1/knowledge-bases/{kb_a}/encoder", json={"version": "support-v1"})
            assert again.status_code == 409 and "still" in again.json()["error"]["message"]
            done = wait_for_job(client, activation.json()["id"], timeout=300)
            _wait_for_sweeps(client)
            wait_until(
                lambda: len(outcomes[kb_b]) >= 3 * len(QUERIES), what="searches of B around the switch"
            )
        assert done["status"] == "succeeded", done
        assert all(result == before_b[query] for query, result in outcomes[kb_b]), "B's results changed"
        assert all(status == 200 and hits for _, (status, hits) in outcomes[kb_a])
        assert client.get(f"/v1/knowledge-bases/{kb_a}").json()["encoder"]["version"] == "support-v1"
        assert client.get(f"/v1/knowledge-bases/{kb_b}").json()["encoder"]["version"] == "base"
        snap_a, snap_b = services.encoders.snapshot(kb_a), services.encoders.snapshot(kb_b)
        assert snap_a.model_id == version["model_id"] and snap_b.model_id == embedder.model_id
        assert done["result"]["chunks"] == snap_a.vectors.count(kb_id=kb_a) > 0
        assert snap_b.vectors.count(kb_id=kb_a) == 0  # A's old points were swept from the base collection
        assert snap_b.vectors.count(kb_id=kb_b) == snap_a.vectors.count(kb_id=kb_a)  # B's untouched
        assert {p[SENTENCES]["model"] for p in _payloads(snap_a.vectors, kb_a)} == {snap_a.model_id}
        after_a = {q: _results(client, kb_a, q) for q in QUERIES}
        assert after_a != base_a  # scored by the new encoder now
        assert client.get("/v1/encoders/support-v1").json()["knowledge_bases"] == 1
        in_use = client.delete("/v1/encoders/support-v1")
        assert in_use.status_code == 409 and "serves 1" in in_use.json()["error"]["message"]

    # A restart keeps each knowledge base on its own encoder.
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        assert {q: _results(client, kb_b, q) for q in QUERIES} == before_b
        assert {q: _results(client, kb_a, q) for q in QUERIES} == after_a
        services = client.app.state.services  # type: ignore[attr-defined]
        new_collection = services.encoders.snapshot(kb_a).vectors.collection

        # Roll A back: B still does not move; the version's collection is dropped once nobody uses it.
        rollback = client.post(f"/v1/knowledge-bases/{kb_a}/encoder", json={"version": "base"})
        assert rollback.status_code == 202, rollback.text
        assert wait_for_job(client, rollback.json()["id"], timeout=300)["status"] == "succeeded"
        _wait_for_sweeps(client)
        assert client.get(f"/v1/knowledge-bases/{kb_a}").json()["encoder"]["version"] == "base"
        assert {q: _results(client, kb_b, q) for q in QUERIES} == before_b
        assert [h for _, h in (_results(client, kb_a, q) for q in QUERIES)] == [h for _, h in base_a.values()]
        assert not services.encoders.base.vectors.collection_exists(new_collection)
        # The sentence vectors went back to the base model's with the chunks.
        assert {p[SENTENCES]["model"] for p in _payloads(services.encoders.base.vectors, kb_a)} == {
            embedder.model_id
        }
        assert client.delete("/v1/encoders/half-baked").status_code == 204
        assert client.delete("/v1/encoders/support-v1").status_code == 204
        assert client.get("/v1/encoders/support-v1").status_code == 404


def test_activating_for_every_knowledge_base_is_the_operators_switch(make_settings, embedder) -> None:
    """The service-wide activation moves every knowledge base and sets the default for new ones; a
    knowledge base created afterwards starts on it (no fine-tuning needed: an operator's version)."""
    settings = make_settings(encoder={"drop_old_after_s": 0, "follow_interval_s": 0.5})
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_a = create_kb(client, "a")
        ingest(client, kb_a, DOCS[:1])
        services = client.app.state.services  # type: ignore[attr-defined]
        register_copy(client, embedder, "ops-v1", kb_id=None)  # the same weights, another identity
        job = client.post("/v1/encoders/ops-v1/activate")
        assert job.status_code == 202, job.text
        finished = wait_for_job(client, job.json()["id"], timeout=300)
        assert finished["status"] == "succeeded" and finished["result"]["knowledge_bases"] == 1
        listed = client.get("/v1/encoders").json()
        assert listed["active"] == "ops-v1" and listed["base_knowledge_bases"] == 0
        kb_new = create_kb(client, "new")
        assert client.get(f"/v1/knowledge-bases/{kb_new}").json()["encoder"]["version"] == "ops-v1"
        ingest(client, kb_new, DOCS[2:])
        status, hits = _results(client, kb_new, "where do orders ship from")
        assert status == 200 and hits
        assert services.encoders.snapshot(kb_new).vectors.count(kb_id=kb_new) > 0
        assert client.post("/v1/encoders/ops-v1/activate").status_code == 409  # already everywhere


def test_an_activation_refits_the_tuned_confidence_model_on_the_new_encoder(make_settings, embedder) -> None:
    """A knowledge base's confidence model names the encoder it was fitted with; moving the knowledge
    base to another encoder queues its last tune again, so the gate is refitted on the new scores."""
    settings = make_settings(encoder={"drop_old_after_s": 0})
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb = create_kb(client, "shop")
        ingest(client, kb, [(name, text.encode(), "text/plain") for name, text in SHOP_ARTICLES.items()])
        tuned = client.post(f"/v1/knowledge-bases/{kb}/tune", json={"pairs": shop_pairs()})
        assert wait_for_job(client, tuned.json()["job_id"])["status"] == "succeeded"
        before = client.get(f"/v1/knowledge-bases/{kb}").json()["retrieval"]["calibration"]
        assert before["encoder"] == embedder.model_id

        register_copy(client, embedder, "shop-v1", kb_id=kb)
        job = client.post(f"/v1/knowledge-bases/{kb}/encoder", json={"version": "shop-v1"})
        activated = wait_for_job(client, job.json()["id"], timeout=300)
        assert activated["status"] == "succeeded", activated
        retune = wait_for_job(client, activated["result"]["retune_job_id"])
        assert retune["status"] == "succeeded" and retune["result"]["confidence"]["applied"], retune
        after = client.get(f"/v1/knowledge-bases/{kb}").json()["retrieval"]["calibration"]
        assert after["encoder"] == "shop-v1@test"
        # The same weights under another identity: the refit finds the same model.
        assert after["coefficients"] == before["coefficients"]
