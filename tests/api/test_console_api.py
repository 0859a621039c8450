"""What the console needs from the API beyond the rest: who a bearer is, and renaming a knowledge base
without breaking anything that refers to it by id."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import create_kb


def test_whoami_says_admin_or_the_keys_one_kb_and_scopes(client: TestClient) -> None:
    assert client.get("/v1/whoami").json() == {"admin": True, "kb_id": None, "scopes": []}
    kb_id = create_kb(client, "docs")
    key = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"scopes": ["search"]}).json()["key"]
    as_key = client.get("/v1/whoami", headers={"Authorization": f"Bearer {key}"})
    assert as_key.json() == {"admin": False, "kb_id": kb_id, "scopes": ["search"]}
    # Only whoami opened to keys: the admin's list stays closed to them.
    listed = client.get("/v1/knowledge-bases", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 403
    anonymous = client.get("/v1/whoami", headers={"Authorization": ""})
    assert anonymous.status_code == 401 and "bearer" in anonymous.json()["error"]["message"]


def test_rename_keeps_the_id_and_refuses_a_taken_or_blank_name(client: TestClient) -> None:
    kb_id = create_kb(client, "docs")
    create_kb(client, "taken")
    key = client.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"scopes": ["read"]}).json()["key"]
    renamed = client.patch(f"/v1/knowledge-bases/{kb_id}", json={"name": "  Help centre  "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Help centre"
    read = client.get(f"/v1/knowledge-bases/{kb_id}", headers={"Authorization": f"Bearer {key}"})
    assert read.json()["name"] == "Help centre"  # the key still works: it names the id
    clash = client.patch(f"/v1/knowledge-bases/{kb_id}", json={"name": "taken"})
    assert clash.status_code == 409 and "pick another name" in clash.json()["error"]["message"]
    blank = client.patch(f"/v1/knowledge-bases/{kb_id}", json={"name": ""})
    assert blank.status_code == 422
    same = client.patch(f"/v1/knowledge-bases/{kb_id}", json={"name": "Help centre"})
    assert same.status_code == 200  # renaming to its own name is no clash
    assert client.get(f"/v1/knowledge-bases/{kb_id}").json()["name"] == "Help centre"
