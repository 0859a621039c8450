"""A knowledge base indexed by an earlier release (English-only keyword analysis, or ``ml2``'s IDF
counted over the whole collection; each in its own collection) moves to the current analysis when the
service restarts: its sparse vectors are rebuilt from the stored texts in another collection while it is
searched without pause, then it switches. Another knowledge base's results do not change by a byte.
Real service, SQLite, Qdrant Edge, real encoder."""

from __future__ import annotations

from functools import partial

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.app import create_app
from backend.catalog import encoders
from backend.db.models import Job, KnowledgeBase
from backend.jobs.kinds import ACTIVATE_JOB
from tests.conftest import AUTH, create_kb, ingest, searched_without_pause, wait_for_job, wait_until

FILES = [
    ("livraison.txt", "Les colis partent de notre entrepôt de Lyon en semaine.".encode(), "text/plain"),
    ("refunds.txt", b"Refunds reach the original card within five business days.", "text/plain"),
    ("router.txt", b"Hold the reset button for ten seconds to restore the router's settings.", "text/plain"),
]
QUERIES = ["when do refunds arrive", "reset the router", "entrepôt Lyon"]


def _search(client: TestClient, kb_id: str, query: str, mode: str = "hybrid") -> tuple[int, list]:
    response = client.post(
        f"/v1/knowledge-bases/{kb_id}/search", json={"query": query, "top_k": 3, "mode": mode}
    )
    if response.status_code != 200:
        return response.status_code, []
    return 200, [(r["document_id"], r["score"]) for r in response.json()["results"]]


@pytest.mark.parametrize("recorded", [None, "ml2"], ids=["en1", "ml2"])
def test_an_older_keyword_analysis_is_reindexed_with_no_downtime(
    make_settings, embedder, recorded: str | None
) -> None:
    """``recorded``: the keyword analysis the earlier release stored (None: the first releases
    recorded none). An ``ml2`` release also left the base alias on its collection: the restart adopts it."""
    previous = recorded or "en1"
    settings = make_settings(encoder={"drop_old_after_s": 0.2, "follow_interval_s": 0.5})
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        old_kb, other_kb = create_kb(client, "indexed-long-ago"), create_kb(client, "indexed-now")
        services = client.app.state.services  # type: ignore[attr-defined]
        with services.sessions.begin() as session:  # as the earlier release left it
            session.get(KnowledgeBase, old_kb).keywords = recorded
        services.follow_encoders()
        ingest(client, old_kb, FILES)
        ingest(client, other_kb, FILES)
        legacy = services.encoders.snapshot(old_kb)
        current = services.encoders.snapshot(other_kb)
        assert (legacy.keywords.version, current.keywords.version) == (previous, "ml3")
        assert (legacy.vectors.kb_idf, current.vectors.kb_idf) == (False, True)
        assert legacy.vectors.collection != current.vectors.collection
        assert client.get(f"/v1/knowledge-bases/{old_kb}").json()["encoder"]["keywords"] == previous
        listed = client.get(f"/v1/knowledge-bases/{old_kb}/documents").json()["data"]
        french = next(d["id"] for d in listed if d["filename"] == "livraison.txt")
        if recorded is None:  # The English-only analysis keeps the accent: the word without it finds nothing.
            assert _search(client, old_kb, "entrepot", "sparse") == (200, [])
        else:
            legacy.vectors.make_active()
            assert legacy.vectors.active_collection() == legacy.vectors.collection
        before_other = {q: _search(client, other_kb, q) for q in QUERIES}

    with TestClient(create_app(settings, embedder=embedder)) as client:  # the upgrade: a restart
        client.headers.update(AUTH)
        services = client.app.state.services  # type: ignore[attr-defined]
        with searched_without_pause(partial(_search, client), [old_kb, other_kb], QUERIES) as outcomes:
            with services.sessions() as session:
                job_id = session.scalar(select(Job.id).where(Job.kind == ACTIVATE_JOB, Job.kb_id == old_kb))
            assert job_id is not None, "no re-index was queued for the knowledge base"
            job = wait_for_job(client, job_id, timeout=120)
            wait_until(lambda: len(outcomes[other_kb]) >= 2 * len(QUERIES), what="searches around the switch")
        assert job["status"] == "succeeded", job
        result = job["result"]
        assert (result["previous_keywords"], result["keywords"]) == (previous, "ml3")
        assert result["chunks"] == len(FILES)
        assert all(status == 200 and hits for _, (status, hits) in outcomes[old_kb]), "a search failed"
        assert all(r == before_other[q] for q, r in outcomes[other_kb]), "another knowledge base moved"

        moved = services.encoders.snapshot(old_kb)
        assert moved.keywords.version == "ml3" and moved.vectors.kb_idf
        assert moved.vectors.active_collection() == moved.vectors.collection  # the alias was adopted
        assert client.get(f"/v1/knowledge-bases/{old_kb}").json()["encoder"]["keywords"] == "ml3"
        assert moved.vectors.collection == services.encoders.snapshot(other_kb).vectors.collection
        assert moved.vectors.count(kb_id=old_kb) == len(FILES)
        assert moved.vectors.languages(kb_id=old_kb) == {"en": 2, "fr": 1}
        status, hits = _search(client, old_kb, "entrepot", "sparse")
        assert status == 200 and [doc for doc, _ in hits] == [french]
        # The confidence model is told when a question is in another language than its passage.
        asked = client.post(
            f"/v1/knowledge-bases/{old_kb}/search",
            json={"query": "Wann werden Rückerstattungen auf die Karte gebucht?", "top_k": 3},
        ).json()["results"]
        foreign = {r["document_id"]: r["evidence"]["foreign"] for r in asked}
        assert foreign[french] > 0.5 and all(v > 0.5 for v in foreign.values())
        same = client.post(
            f"/v1/knowledge-bases/{old_kb}/search",
            json={"query": "Où est l'entrepôt des colis ?", "top_k": 3},
        ).json()["results"]
        assert {r["document_id"]: r["evidence"]["foreign"] for r in same}[french] == 0.0
        wait_until(
            lambda: not services.encoders.base.vectors.collection_exists(legacy.vectors.collection),
            what="the older analysis's collection to be dropped once nobody uses it",
        )
        # Nothing left to upgrade: a restart queues nothing more.
        with services.sessions.begin() as session:
            assert encoders.request_keyword_upgrades(session) == []
