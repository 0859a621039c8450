"""A third party's connector, installed the way a package installs it (a dist-info folder on the path
with a ``kbchat.connectors`` entry point), found by the service without a line of kbchat changed:
its settings schema served, its settings validated, its sources synced, changed and removed."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.connectors.registry import connector_kinds
from tests.conftest import AUTH, create_kb, wait_for_job, wait_until

PLUGIN = """
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from backend.connectors.base import Connector, Content, Unchanged


class NotesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folder: str


class NotesConnector(Connector):
    kind = "notes"
    description = "Text notes in a folder (a test plugin)."
    Settings = NotesSettings

    def sync(self, ctx):
        for path in sorted(Path(ctx.settings.folder).glob("*.txt")):
            stat = path.stat()
            token = f"{stat.st_mtime_ns}-{stat.st_size}"
            previous = ctx.previous(path.name)
            if previous is not None and previous.change_token == token:
                yield Unchanged(path.name, change_token=token)
            else:
                yield Content(path.name, path.read_bytes(), content_type="text/plain", name=path.name,
                              change_token=token)
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    site = tmp_path / "site-packages"
    dist = site / "kbchat_notes-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "kbchat_notes.py").write_text(textwrap.dedent(PLUGIN))
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kbchat-notes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kbchat.connectors]\nnotes = kbchat_notes:NotesConnector\n")
    monkeypatch.syspath_prepend(str(site))
    connector_kinds.cache_clear()
    yield
    connector_kinds.cache_clear()


def test_a_third_party_connector_syncs_a_source(
    installed_plugin, tmp_path: Path, make_settings, embedder
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "wifi.txt").write_text("The office wifi password is on the fridge.")
    (notes / "parking.txt").write_text("Parking permits are renewed every January.")
    with TestClient(create_app(make_settings(), embedder=embedder)) as client:
        client.headers.update(AUTH)
        kinds = {c["kind"]: c for c in client.get("/v1/connectors").json()["data"]}
        assert kinds["notes"]["settings_schema"]["required"] == ["folder"]
        kb_id = create_kb(client)
        url = f"/v1/knowledge-bases/{kb_id}/sources"
        refused = client.post(url, json={"kind": "notes", "url": "notes://office", "settings": {}})
        assert refused.status_code == 422 and "folder" in refused.text

        created = client.post(
            url,
            json={
                "kind": "notes",
                "url": "notes://office",
                "settings": {"folder": str(notes)},
                "remove_after": 0,
            },
        ).json()
        job = wait_for_job(client, created["job"]["id"])
        assert job["result"]["counts"]["added"] == 2, job

        (notes / "parking.txt").unlink()
        (notes / "wifi.txt").write_text("The office wifi password changed; ask reception.")
        sync = client.post(f"{url}/{created['id']}/sync").json()
        counts = wait_for_job(client, sync["job"]["id"])["result"]["counts"]
        assert (counts["changed"], counts["removed"]) == (1, 1), counts

        def sources() -> set[str]:
            docs = client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]
            return {d["source"] for d in docs if d["status"] == "ready"}

        wait_until(lambda: sources() == {"wifi.txt"}, what="the changed note to be ingested")
        hits = client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": "wifi password"}).json()
        assert "reception" in hits["results"][0]["text"]
