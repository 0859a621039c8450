"""Names are normalised and checked once (backend/catalog/names.py), and the API applies them: knowledge
base names that only look alike are refused, a version name cannot escape the artifact folder, and an
uploaded file keeps only its own name."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.catalog.names import contained, display_name, file_name, folder_name
from backend.errors import InvalidInput
from tests.conftest import create_kb


def test_display_names_are_nfc_and_refuse_what_cannot_be_seen() -> None:
    assert display_name("  Cafe\u0301 ", what="name") == "Café"
    for hidden in ("Sup\u200bport", "Support\u202e", "Sup\u00adport", "a\x07b", "a\nb"):
        with pytest.raises(InvalidInput, match="invisible or control"):
            display_name(hidden, what="name")
    with pytest.raises(InvalidInput, match="empty"):
        display_name(" \t ", what="name")


def test_file_names_keep_only_their_last_component() -> None:
    assert file_name("../../etc/passwd") == "passwd"
    assert file_name("C:\\Users\\me\\report.pdf") == "report.pdf"
    assert file_name("..") == file_name("") == file_name(None) == "upload"
    assert file_name("ok\u200b.txt") == "ok.txt"


def test_folder_names_and_contained_paths(tmp_path: Path) -> None:
    assert folder_name("ft-2026.v1_a", what="version name") == "ft-2026.v1_a"
    for bad in ("..", ".", "a/b", "", "x" * 101, "naïve"):
        with pytest.raises(InvalidInput):
            folder_name(bad, what="version name")
    assert contained(tmp_path, "a", "b") == (tmp_path / "a" / "b").resolve()
    for escape in (("..",), ("a", "..", ".."), ("/etc",)):
        with pytest.raises(InvalidInput, match="outside"):
            contained(tmp_path, *escape)
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(InvalidInput, match="outside"):
        contained(tmp_path, "link", "etc")


def test_the_api_applies_them(client: TestClient) -> None:
    create_kb(client, "Support")
    twin = client.post("/v1/knowledge-bases", json={"name": "Sup\u200bport"})
    assert twin.status_code == 422 and "U+200B" in twin.json()["error"]["message"]
    composed = client.post("/v1/knowledge-bases", json={"name": "Cafe\u0301"})
    assert composed.status_code == 201 and composed.json()["name"] == "Café"
    assert client.post("/v1/knowledge-bases", json={"name": "Café"}).status_code == 409  # the same name
    kb_id = composed.json()["id"]
    dots = client.post(f"/v1/knowledge-bases/{kb_id}/finetune", json={"name": ".."})
    assert dots.status_code == 422 and "dots alone" in dots.text
    upload = client.post(
        f"/v1/knowledge-bases/{kb_id}/documents",
        files=[("files", ("../../secret/notes.txt", b"Some notes about returns.", "text/plain"))],
    )
    assert upload.status_code == 202, upload.text
    assert upload.json()["documents"][0]["filename"] == "notes.txt"
