"""``kbchat backup`` / ``kbchat restore`` as an operator runs them: the real CLI in-process, real
databases (the source on SQLite restored into a fresh PostgreSQL, and the other way round), the real
embedded vector store and encoder. A restored service answers exactly as the original did; a damaged
backup or an occupied target is refused before anything is written."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect

from backend.api.app import create_app
from backend.backup.manifest import read_verified
from backend.backup.rows import rows_present
from backend.encoder.sentence_transformer import SentenceTransformerEmbedder
from backend.settings import Settings
from tests.conftest import AUTH, TOKEN, create_kb, fresh_postgres, ingest, wait_for_job
from tests.finetune.versions import register_copy
from tests.fixtures_docs import BILLING_HTML, GUIDE_MD, SHIPPING_TXT

QUESTIONS = ["How do I reset the admin password?", "When will my parcel arrive?", "refund"]


def _answers(
    settings: Settings, embedder: SentenceTransformerEmbedder, kb_ids: list[str]
) -> dict[str, object]:
    """What the knowledge bases answer: search hits with scores and confidence, and chat's answer."""
    out: dict[str, object] = {}
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        for kb_id, question in [(kb, q) for kb in kb_ids for q in QUESTIONS]:
            hits = client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": question}).json()
            out[f"search {kb_id} {question}"] = [
                (h["document_id"], h["chunk_index"], round(h["score"], 5), round(h["confidence"], 5))
                for h in hits["results"]
            ]
            chat = client.post(f"/v1/knowledge-bases/{kb_id}/chat", json={"message": question}).json()
            out[f"chat {kb_id} {question}"] = (
                chat["answer"],
                [c["document_id"] for c in chat["citations"]],
            )
        for kb in client.get("/v1/knowledge-bases").json()["data"]:
            documents = client.get(f"/v1/knowledge-bases/{kb['id']}/documents").json()["data"]
            out[kb["name"]] = (
                kb["encoder"],
                sorted((d["id"], d["status"], d["chunk_count"]) for d in documents),
            )
    return out


@pytest.fixture
def target_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the other kind than the source's: a backup moves between them both ways
    (the embedded default's into a production PostgreSQL, and back)."""
    if database_url.startswith("sqlite"):
        with fresh_postgres() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'restored.db'}"


@pytest.fixture
def original(
    make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder
) -> tuple[Settings, list[str]]:
    """A service with two knowledge bases of documents (one served by a fine-tuned version) and an
    empty one."""
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
        tuned = create_kb(client, "tuned")
        ingest(client, tuned, [("guide.md", GUIDE_MD, "text/markdown")])
        register_copy(client, embedder, "tuned-v1", kb_id=tuned)
        job = client.post(f"/v1/knowledge-bases/{tuned}/encoder", json={"version": "tuned-v1"})
        assert wait_for_job(client, job.json()["id"], timeout=300)["status"] == "succeeded"
        create_kb(client, "empty")
    return settings, [kb_id, tuned]


def _env(settings: Settings) -> dict[str, str]:
    return {
        "KBCHAT_DATA_DIR": str(settings.data_dir),
        "KBCHAT_DATABASE__URL": settings.database_url,
        "KBCHAT_ADMIN_TOKEN": TOKEN,
    }


@pytest.mark.both_databases  # a snapshot read is SQL: SQLite's backup API, PG's isolation; both ways
def test_restore_into_an_empty_data_dir_answers_identically(
    kbchat, original, embedder, target_url: str, tmp_path: Path
) -> None:
    settings, kb_ids = original
    before = _answers(settings, embedder, kb_ids)
    backup = tmp_path / "backups" / "nightly"
    made = kbchat("backup", str(backup), **_env(settings))
    assert made.returncode == 0, made.stderr
    assert "4 documents" in made.stdout and "1 fine-tuned encoders" in made.stdout
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["database"]["rows"]["documents"] == 4
    assert manifest["database"]["rows"]["knowledge_bases"] == 3
    assert len(manifest["collections"]) == 2  # the base model's and the version's
    assert sum(c["points"] for c in manifest["collections"].values()) > 3
    assert not list(backup.parent.glob(".*partial*"))  # the staging folder was renamed into place

    restored = Settings(data_dir=tmp_path / "restored", admin_token=TOKEN, database={"url": target_url})  # type: ignore[arg-type]
    done = kbchat("restore", str(backup), **_env(restored))
    assert done.returncode == 0, done.stderr
    assert "reconciled" not in done.stdout  # nothing changed while the backup ran: nothing to repair
    assert _answers(restored, embedder, kb_ids) == before
    assert (restored.data_dir / "encoders" / "tuned-v1" / "model" / "config.json").is_file()


def test_damaged_backups_and_occupied_targets_are_refused_and_nothing_is_written(
    kbchat, original, embedder, target_url: str, tmp_path: Path
) -> None:
    settings, kb_ids = original
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
    target = create_engine(target_url)
    # Every refusal came before any write: before even the schema (the backup is checked first).
    assert not inspect(target).get_table_names() or rows_present(target) == {}
    target.dispose()

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
    assert _answers(restored, embedder, kb_ids) == _answers(settings, embedder, kb_ids)
    with TestClient(create_app(restored, embedder=embedder)) as client:
        names = [kb["name"] for kb in client.get("/v1/knowledge-bases", headers=AUTH).json()["data"]]
        assert sorted(names) == ["empty", "support", "tuned"]


def test_the_running_service_takes_a_backup_of_itself(client: TestClient) -> None:
    """Embedded defaults: the service owns the vector store, so it writes the backup (admin only, a
    bounded name, never a path)."""
    kb_id = create_kb(client, "docs")
    ingest(client, kb_id, [("shipping.txt", SHIPPING_TXT, "text/plain")])
    made = client.post("/v1/backups", json={"name": "2026-12-02.nightly"})
    assert made.status_code == 201, made.text
    path = Path(made.json()["path"])
    assert path.parent.name == "backups" and made.json()["database"]["rows"]["documents"] == 1
    assert read_verified(path)["schema_revision"] == made.json()["schema_revision"]
    again = client.post("/v1/backups", json={"name": "2026-12-02.nightly"})
    assert again.status_code == 422 and "not empty" in again.json()["error"]["message"]
    for bad in ("../escape", "", "a/b", ".hidden", "x" * 65):
        assert client.post("/v1/backups", json={"name": bad}).status_code == 422, bad
    key = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"scopes": ["manage"]}).json()["key"]
    as_key = client.post("/v1/backups", json={"name": "mine"}, headers={"Authorization": f"Bearer {key}"})
    assert as_key.status_code == 403
