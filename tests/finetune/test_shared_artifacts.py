"""A version trained by one process is served by another: separate processes with separate working and
data directories share only the configured artifact folder (mounted at another path in the second),
the database and the vector store, as the API and worker containers of compose.yaml do."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from tests.conftest import AUTH, TOKEN, create_kb, ingest, wait_for_job
from tests.finetune.test_rollout import DOCS, PAIRS, TRAINING

pytestmark = [pytest.mark.both_databases, pytest.mark.slow]  # a second kbchat process
KBCHAT = shutil.which("kbchat") or str(Path(__file__).parents[2] / ".venv" / "bin" / "kbchat")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"kbchat serve exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"kbchat serve did not come up:\n{log.read_text(errors='replace')[-3000:]}")


def test_a_version_trained_by_one_process_is_served_by_another(
    tmp_path: Path, database_url: str, embedder
) -> None:
    shared = tmp_path / "shared"
    first = {
        "data_dir": tmp_path / "one" / "data",
        "artifacts_dir": shared / "artifacts",
        "admin_token": TOKEN,
        "database": {"url": database_url},
        "qdrant": {"path": shared / "vectors"},
    }
    from backend.settings import Settings

    with TestClient(create_app(Settings(**first), embedder=embedder)) as client:  # type: ignore[arg-type]
        client.headers.update(AUTH)
        kb_id = create_kb(client, "tenant")
        ingest(client, kb_id, DOCS)
        response = client.post(
            f"/v1/knowledge-bases/{kb_id}/finetune",
            json={"pairs": PAIRS, "eval_fraction": 0.25, "options": TRAINING, "name": "trained-here"},
        )
        assert wait_for_job(client, response.json()["id"], timeout=600)["status"] == "succeeded"
    assert not (tmp_path / "one" / "data" / "encoders").exists()  # written to the shared folder only

    second = tmp_path / "two"
    (second / "mnt").mkdir(parents=True)
    (second / "mnt" / "artifacts").symlink_to(shared / "artifacts")  # the volume, mounted elsewhere
    port, log = _free_port(), tmp_path / "serve.log"
    env = {
        **os.environ,
        "KBCHAT_DATA_DIR": str(second / "data"),
        "KBCHAT_ARTIFACTS_DIR": str(second / "mnt" / "artifacts"),
        "KBCHAT_DATABASE__URL": database_url,
        "KBCHAT_QDRANT__PATH": str(shared / "vectors"),
        "KBCHAT_ADMIN_TOKEN": TOKEN,
        "KBCHAT_ENCODER__DROP_OLD_AFTER_S": "0",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.Popen(
        [KBCHAT, "serve", "--port", str(port)],
        cwd=second,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc, log)
        with httpx.Client(base_url=base, headers=AUTH, timeout=60) as http:
            job = http.post(f"/v1/knowledge-bases/{kb_id}/encoder", json={"version": "trained-here"})
            assert job.status_code == 202, job.text
            job_id, deadline = job.json()["id"], time.monotonic() + 300
            while (state := http.get(f"/v1/jobs/{job_id}").json())["status"] not in ("succeeded", "failed"):
                assert time.monotonic() < deadline, state
                time.sleep(0.1)
            assert state["status"] == "succeeded", state
            assert http.get(f"/v1/knowledge-bases/{kb_id}").json()["encoder"]["version"] == "trained-here"
            found = http.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": "reset the password"})
            assert found.status_code == 200 and found.json()["results"]
            chart = http.get("/v1/encoders/trained-here/chart.png")
            assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
    finally:
        proc.terminate()
        proc.wait(30)
    assert "trained-here" in log.read_text(errors="replace")  # it loaded the version itself
