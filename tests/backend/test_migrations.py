"""Alembic migrations produce exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from backend.db.engine import make_engine
from backend.db.migrate import upgrade
from backend.db.models import Base

pytestmark = pytest.mark.both_databases  # each dialect's DDL


def test_migrations_match_models_and_are_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # every `kbchat serve` runs it: a second run must be a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"
    assert {"knowledge_bases", "documents", "document_contents", "jobs", "conversations", "messages"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()
