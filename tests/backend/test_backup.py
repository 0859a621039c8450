"""``kbchat backup`` / ``kbchat restore`` as an operator runs them: the real CLI in-process, real
databases (the source on SQLite and on PostgreSQL, restored into a fresh SQLite or PostgreSQL), the real
embedded vector store and encoder. A restored service answers exactly as the original did; a damaged
backup or an occupied target is refused before anything is written."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from backend.api.app import create_app
from backend.backup.rows import rows_present
from backend.encoder.sentence_transformer import SentenceTransformerEmbedder
from backend.settings import Settings
from tests.conftest import AUTH, TOKEN, create_kb, fresh_postgres, ingest
from tests.fixtures_docs import BILLING_HTML, GUIDE_MD, SHIPPING_TXT

pytestmark = pytest.mark.both_databases  # a snapshot read is SQL: SQLite's backup API, PG's isolation

QUESTIONS = ["How do I reset the admin password?", "When will my parcel arrive?", "refund"]


def _answers(settings: Settings, embedder: SentenceTransformerEmbedder, kb_id: str) -> dict[str, object]:
    """What the knowledge base answers: search hits with scores and confidence, and chat's answer."""
    out: dict[str, object] = {}
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        for question in QUESTIONS:
            hits = client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": question}).json()
            out[f"search {question}"] = [
                (h["document_id"], h["chunk_index"], round(h["score"], 5), round(h["confidence"], 5))
                for h in hits["results"]
            ]
            chat = client.post(f"/v1/knowledge-bases/{kb_id}/chat", json={"message": question}).json()
            out[f"chat {question}"] = (chat["answer"], [c["document_id"] for c in chat["citations"]])
        documents = client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]
        out["documents"] = sorted((d["id"], d["status"], d["chunk_count"]) for d in documents)
    return out


@pytest.fixture
def target_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as the source's, for the restore."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
    else:
        with fresh_postgres() as url:
            yield url


@pytest.fixture
def original(
    make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder
) -> tuple[Settings, str]:
    settings = make_settings()
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client, "support")
        ingest(
            client,
            kb_id,
            [
                ("guide.md", GUIDE_MD, "text/markdown"),
                ("billing.html", BILLING_HTML, "text/html"),
                ("shipping.txt", SHIPPING_TXT, "text/plain"),
            ],
        )
        create_kb(client, "empty")
    return settings, kb_id


def _env(settings: Settings) -> dict[str, str]:
    return {
        "KBCHAT_DATA_DIR": str(settings.data_dir),
        "KBCHAT_DATABASE__URL": settings.database_url,
        "KBCHAT_ADMIN_TOKEN": TOKEN,
    }


def test_restore_into_an_empty_data_dir_answers_identically(
    kbchat, original, embedder, target_url: str, tmp_path: Path
) -> None:
    settings, kb_id = original
    before = _answers(settings, embedder, kb_id)
    backup = tmp_path / "backups" / "nightly"
    made = kbchat("backup", str(backup), **_env(settings))
    assert made.returncode == 0, made.stderr
    assert "3 documents" in made.stdout
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["database"]["rows"]["documents"] == 3
    assert manifest["database"]["rows"]["knowledge_bases"] == 2
    assert sum(c["points"] for c in manifest["collections"].values()) > 3
    assert not list(backup.parent.glob(".*partial*"))  # the staging folder was renamed into place

    restored = Settings(data_dir=tmp_path / "restored", admin_token=TOKEN, database={"url": target_url})  # type: ignore[arg-type]
    done = kbchat("restore", str(backup), **_env(restored))
    assert done.returncode == 0, done.stderr
    assert "reconciled" not in done.stdout  # nothing changed while the backup ran: nothing to repair
    assert _answers(restored, embedder, kb_id) == before


def test_damaged_backups_and_occupied_targets_are_refused_and_nothing_is_written(
    kbchat, original, embedder, target_url: str, tmp_path: Path
) -> None:
    settings, kb_id = original
    backup = tmp_path / "backup"
    assert kbchat("backup", str(backup), **_env(settings)).returncode == 0
    again = kbchat("backup", str(backup), **_env(settings))
    assert again.returncode == 2 and "exists and is not empty" in again.stderr

    restored = Settings(data_dir=tmp_path / "restored", admin_token=TOKEN, database={"url": target_url})  # type: ignore[arg-type]
    env = _env(restored)
    documents = backup / "database" / "documents.jsonl"
    original_bytes = documents.read_bytes()
    documents.write_bytes(original_bytes.replace(b"ready", b"reaDy", 1))  # same size, other bytes
    corrupted = kbchat("restore", str(backup), **env)
    assert corrupted.returncode == 2 and "documents.jsonl does not match its checksum" in corrupted.stderr
    documents.write_bytes(original_bytes[:-10])
    truncated = kbchat("restore", str(backup), **env)
    assert truncated.returncode == 2 and "truncated" in truncated.stderr
    documents.write_bytes(original_bytes)
    manifest = (backup / "manifest.json").read_bytes()
    (backup / "manifest.json").unlink()
    partial = kbchat("restore", str(backup), **env)
    assert partial.returncode == 2 and "interrupted" in partial.stderr
    (backup / "manifest.json").write_bytes(manifest)
    assert rows_present(create_engine(target_url)) == {}  # every refusal came before any write

    assert kbchat("restore", str(backup), **env).returncode == 0
    occupied = kbchat("restore", str(backup), **env)
    assert occupied.returncode == 2 and "--force" in occupied.stderr
    # --force replaces everything: a knowledge base made after the restore is gone again.
    with TestClient(create_app(restored, embedder=embedder)) as client:
        client.headers.update(AUTH)
        extra = create_kb(client, "made after the restore")
        ingest(client, extra, [("shipping.txt", SHIPPING_TXT, "text/plain")])
    forced = kbchat("restore", str(backup), "--force", **env)
    assert forced.returncode == 0, forced.stderr
    assert _answers(restored, embedder, kb_id) == _answers(settings, embedder, kb_id)
    with TestClient(create_app(restored, embedder=embedder)) as client:
        names = [kb["name"] for kb in client.get("/v1/knowledge-bases", headers=AUTH).json()["data"]]
        assert sorted(names) == ["empty", "support"]
