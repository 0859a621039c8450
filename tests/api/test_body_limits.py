"""Bodies are bounded before they are read: over the limit is a 413 that names the setting, a big body
without a valid bearer is a 401 before it is read, a streamed body is cut off at the limit, and a real
server under four concurrent 200 MB bodies with no token stays within +100 MB of memory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from tests.conftest import AUTH, TOKEN, create_kb

KBCHAT = shutil.which("kbchat") or str(Path(__file__).parents[2] / ".venv" / "bin" / "kbchat")
MB = 1024 * 1024


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


@pytest.fixture
def limited(make_settings, embedder) -> Iterator[TestClient]:
    settings = make_settings(
        limits={"json_bytes": 128 * 1024, "widget_bytes": 2048, "upload_bytes": 256 * 1024}
    )
    with TestClient(create_app(settings, embedder=embedder)) as client:
        yield client


def test_a_declared_size_over_the_limit_is_refused_unread(limited: TestClient) -> None:
    body = b'{"name": "' + b"x" * (200 * 1024) + b'"}'
    response = limited.post(
        "/v1/knowledge-bases", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "KBCHAT_LIMITS__JSON_BYTES" in response.json()["error"]["message"]
    widget = limited.post(
        "/v1/widget/wk_nope/chat", content=b"x" * 4096, headers={"Content-Type": "application/json"}
    )
    assert widget.status_code == 413 and "KBCHAT_LIMITS__WIDGET_BYTES" in widget.text


def test_a_big_body_needs_a_valid_bearer_before_it_is_read(limited: TestClient) -> None:
    body = b'{"name": "' + b"x" * (100 * 1024) + b'"}'  # under the limit, over the unauthenticated read
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "Basic abc"}):
        response = limited.post(
            "/v1/knowledge-bases", content=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"] == "Bearer"
    ok = limited.post(
        "/v1/knowledge-bases", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert ok.status_code == 422 and "200 characters" in ok.text  # read, and judged by the route


def test_a_streamed_body_is_cut_off_at_the_limit(limited: TestClient) -> None:
    response = limited.post(
        "/v1/knowledge-bases", content=_chunks(1 * MB), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413 and "KBCHAT_LIMITS__JSON_BYTES" in response.text
    kb_id = create_kb(_authed(limited))
    boundary = "kbchatboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()

    def multipart() -> Iterator[bytes]:
        yield head
        yield from _chunks(1 * MB)
        yield f"\r\n--{boundary}--\r\n".encode()

    upload = limited.post(
        f"/v1/knowledge-bases/{kb_id}/documents",
        content=multipart(),
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert upload.status_code == 413 and "KBCHAT_LIMITS__UPLOAD_BYTES" in upload.text
    listed = limited.get(f"/v1/knowledge-bases/{kb_id}/documents", headers=AUTH).json()
    assert listed["data"] == []  # nothing half-stored


def _authed(client: TestClient) -> TestClient:
    client.headers.update(AUTH)
    return client


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow  # a kbchat process of its own
def test_a_real_server_stays_small_under_big_unauthenticated_bodies(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "KBCHAT_DATA_DIR": str(tmp_path / "data"),
        "KBCHAT_ADMIN_TOKEN": TOKEN,
        "KBCHAT_WORKER__EMBEDDED": "false",
        "HF_HUB_OFFLINE": "1",
    }
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [KBCHAT, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb")
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[
                -2000:
            ]
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, headers=AUTH) as warm:  # load the lazy parts once
            warm.post("/v1/knowledge-bases", json={"name": "warm"})
        before = _rss_kb(proc.pid)
        statuses: list[object] = []

        def send(path: str, streamed: bool) -> None:
            body = _chunks(200 * MB, 1 * MB) if streamed else b"x" * (200 * MB)
            try:
                r = httpx.post(
                    base + path, content=body, headers={"Content-Type": "application/json"}, timeout=60
                )
                statuses.append(r.status_code)
            except httpx.TransportError as exc:  # the server closed the connection while we still sent
                statuses.append(type(exc).__name__)

        jobs = [
            threading.Thread(target=send, args=("/v1/knowledge-bases", False)),
            threading.Thread(target=send, args=("/v1/knowledge-bases", True)),
            threading.Thread(target=send, args=("/v1/chat/completions", True)),
            threading.Thread(target=send, args=("/v1/widget/wk_unknown/chat", True)),
        ]
        for job in jobs:
            job.start()
        for job in jobs:
            job.join(120)
        grown_mb = (_rss_kb(proc.pid) - before) / 1024
        assert len(statuses) == 4 and all(s in (401, 413) or isinstance(s, str) for s in statuses), statuses
        assert grown_mb < 100, f"the server grew by {grown_mb:.0f} MB"
        assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
