"""Registers ingestion with the service: the "ingest", "fetch_url" and "sync_source" job handlers and
``kbchat ingest``."""

from __future__ import annotations

from backend.jobs.kinds import FETCH_URL_JOB, INGEST_JOB, SYNC_SOURCE_JOB
from backend.plugins import PluginRegistry, deferred


def register(registry: PluginRegistry) -> None:
    from ingest.cli import extend_cli

    registry.add_job_handler(INGEST_JOB, deferred("ingest.handler", "make_ingest_handler"))
    registry.add_job_handler(  # a slow site waits alone
        FETCH_URL_JOB, deferred("ingest.web.handler", "make_fetch_handler"), lane="io"
    )
    registry.add_job_handler(  # a source's sync waits on sites and repositories, not the encoder
        SYNC_SOURCE_JOB, deferred("ingest.sync.handler", "make_sync_handler"), lane="io"
    )
    registry.add_cli(extend_cli)
