"""Registers ingestion with the service: the "ingest" and "fetch_url" job handlers and ``kbchat ingest``."""

from __future__ import annotations

from backend.catalog.documents import INGEST_JOB
from backend.catalog.urls import FETCH_URL_JOB
from backend.plugins import PluginRegistry


def register(registry: PluginRegistry) -> None:
    from ingest.cli import extend_cli
    from ingest.handler import make_ingest_handler
    from ingest.web.handler import make_fetch_handler

    registry.add_job_handler(INGEST_JOB, make_ingest_handler)
    registry.add_job_handler(FETCH_URL_JOB, make_fetch_handler, lane="io")  # a slow site waits alone
    registry.add_cli(extend_cli)
