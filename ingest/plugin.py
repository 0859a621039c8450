"""Registers ingestion with the service: the "ingest" job handler and the ``kbchat ingest`` command."""

from __future__ import annotations

from backend.catalog.documents import INGEST_JOB
from backend.plugins import PluginRegistry


def register(registry: PluginRegistry) -> None:
    from ingest.cli import extend_cli
    from ingest.handler import make_ingest_handler

    registry.add_job_handler(INGEST_JOB, make_ingest_handler)
    registry.add_cli(extend_cli)
