"""Headless Chromium against the real service on loopback: what the widget and console tests share.

Needs /usr/bin/chromium (``apt-get install chromium``) and the ``playwright`` package (dev extra; it
drives the system browser, it downloads none). Skipped where either is missing, unless
``KBCHAT_REQUIRE_BROWSER=1`` (CI sets it) turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("KBCHAT_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("KBCHAT_SCREENSHOTS", "test-artifacts/screenshots"))
"""Where browser tests leave their screenshots for a reviewer (git-ignored; CI keeps the folder)."""


def browser_or_skip() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed (pip install -e '.[dev]')"
    else:
        if CHROMIUM:
            return CHROMIUM
        reason = "Chromium is not installed (apt-get install chromium)"
    if REQUIRED:
        pytest.fail(f"KBCHAT_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """``app`` on a free loopback port, as a browser reaches it; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not service.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)  # polls a flag uvicorn sets; there is no event to wait on
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        service.should_exit = True
        thread.join(10)
