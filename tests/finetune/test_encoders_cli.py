"""``kbchat encoders activate NAME --kb KB`` and ``--all``, run in-process with Typer's runner against
the same data dir, database and vector store the service used (stopped first: Edge is one process's)."""

from __future__ import annotations

import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backend.encoder.onnx_query import export_folder
from finetune.cli import extend_cli
from tests.conftest import AUTH, TOKEN, create_kb, ingest
from tests.finetune.test_rollout import DOCS
from tests.finetune.versions import register_copy


def test_encoders_activate_switches_one_knowledge_base_or_all(make_settings, embedder, monkeypatch) -> None:
    from backend.api.app import create_app

    settings = make_settings(encoder={"drop_old_after_s": 0})
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_a, kb_b = create_kb(client, "alpha"), create_kb(client, "beta")
        ingest(client, kb_a, DOCS[2:])
        ingest(client, kb_b, DOCS[2:])
        register_copy(client, embedder, "cli-v1", kb_id=kb_a)
    monkeypatch.setenv("KBCHAT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KBCHAT_DATABASE__URL", settings.database_url)
    monkeypatch.setenv("KBCHAT_ADMIN_TOKEN", TOKEN)
    app = typer.Typer()
    extend_cli(app)
    runner = CliRunner()

    neither = runner.invoke(app, ["encoders", "activate", "cli-v1"])
    assert neither.exit_code != 0 and "--kb" in neither.output
    # Under the service's default runtime the activation also writes the version's ONNX export, so the
    # API's first search on it does not wait for one (the command itself asks no question on it).
    onnx = export_folder(settings.artifacts_path, "cli-v1@test") / "model.onnx"
    with monkeypatch.context() as auto:
        auto.setenv("KBCHAT_ENCODER__QUERY_RUNTIME", "auto")
        one = runner.invoke(app, ["encoders", "activate", "cli-v1", "--kb", "alpha"])
    assert one.exit_code == 0, one.output
    assert "alpha: cli-v1" in one.output
    assert onnx.is_file()
    foreign = runner.invoke(app, ["encoders", "activate", "cli-v1", "--kb", "beta"])
    assert foreign.exit_code != 0 and "share" in str(foreign.exception)  # B does not own it
    listed = runner.invoke(app, ["encoders", "list"])
    assert "cli-v1" in listed.output and "serves 1 knowledge base(s)" in listed.output
    everywhere = runner.invoke(app, ["encoders", "activate", "base", "--all"])
    assert everywhere.exit_code == 0, everywhere.output

    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        for kb_id in (kb_a, kb_b):
            assert client.get(f"/v1/knowledge-bases/{kb_id}").json()["encoder"]["version"] == "base"
            found = client.post(
                f"/v1/knowledge-bases/{kb_id}/search", json={"query": "where do orders ship from"}
            )
            assert found.status_code == 200 and found.json()["results"]
