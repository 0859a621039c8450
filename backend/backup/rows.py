"""The database as JSON lines, one file per table: portable between SQLite and PostgreSQL (a backup of
the embedded default restores into a production PostgreSQL), readable with any tool.

A dump reads every table inside one snapshot, so rows always agree with each other: on PostgreSQL a
``REPEATABLE READ, READ ONLY`` transaction; on SQLite a page copy made with SQLite's online backup API
(the live file is only read-locked for the copy, never write-locked for the whole dump), then dumped.
Values are written by their column's type, so nothing needs a tag inside the data: datetimes as ISO
8601, bytes as base64, the rest as JSON.
"""

from __future__ import annotations

import base64
import functools
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    Table,
    create_engine,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.types import DateTime, Enum, TypeDecorator

from backend.db.models import Base

INSERT_BATCH = 500


def tables() -> list[Table]:
    """Every table of the schema, parents before children (the order rows can be inserted in)."""
    return list(Base.metadata.sorted_tables)


@functools.cache
def _kind(table: Table, column: str) -> str:
    """How a column's values are written (asked once per table and column, not per row)."""
    column_type = table.columns[column].type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, DateTime):
        return "datetime"
    if isinstance(column_type, LargeBinary):
        return "bytes"
    if isinstance(column_type, Enum) and column_type.enum_class is not None:
        return "enum"
    return "json"


def encode_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        kind = _kind(table, name)
        if value is None or kind == "json":
            out[name] = value
        elif kind == "datetime":
            out[name] = value.isoformat()
        elif kind == "bytes":
            out[name] = base64.b64encode(value).decode("ascii")
        else:
            out[name] = value.value
    return out


def decode_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name not in table.columns:
            raise ValueError(f"table {table.name} has no column {name!r}")
        kind = _kind(table, name)
        if value is None or kind == "json":
            out[name] = value
        elif kind == "datetime":
            out[name] = datetime.fromisoformat(value)
        elif kind == "bytes":
            out[name] = base64.b64decode(value, validate=True)
        else:
            enum_class = table.columns[name].type.enum_class  # type: ignore[attr-defined]
            out[name] = enum_class(value)
    return out


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection that sees one consistent state of the whole database."""
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn
            conn.rollback()
        return
    source = engine.url.database
    with tempfile.TemporaryDirectory(prefix="kbchat-backup-") as folder:
        copy = Path(folder) / "snapshot.db"
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as live, sqlite3.connect(copy) as dest:
            live.backup(dest)  # one step: a consistent copy, even while the service writes (WAL)
        copied = create_engine(f"sqlite:///{copy}")
        try:
            with copied.connect() as conn:
                yield conn
        finally:
            copied.dispose()


def dump_database(engine: Engine, folder: Path) -> dict[str, int]:
    """Every table to ``folder/<table>.jsonl``; returns the row count of each."""
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with _snapshot(engine) as conn:
        for table in tables():
            count = 0
            with (folder / f"{table.name}.jsonl").open("w", encoding="utf-8") as f:
                ordered = select(table).order_by(*table.primary_key.columns)
                for row in conn.execution_options(yield_per=INSERT_BATCH).execute(ordered).mappings():
                    f.write(json.dumps(encode_row(table, dict(row)), ensure_ascii=False) + "\n")
                    count += 1
            counts[table.name] = count
    return counts


def rows_present(engine: Engine) -> dict[str, int]:
    """Tables that hold rows, with how many (an empty dict: an empty database)."""
    with engine.connect() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables()}
    return {name: count for name, count in counts.items() if count}


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database's schema is at."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _deferred(ordered: list[Table]) -> dict[str, list[str]]:
    """Table → its foreign-key columns that point at a table inserted at the same time or later (a
    cycle, like a knowledge base's encoder version owned by a knowledge base): inserted empty, then set
    once every row exists."""
    position = {table.name: i for i, table in enumerate(ordered)}
    deferred: dict[str, list[str]] = {}
    for i, table in enumerate(ordered):
        for key in table.foreign_keys:
            if position.get(key.column.table.name, -1) >= i:
                deferred.setdefault(table.name, []).append(key.parent.name)
    return deferred


def load_database(
    engine: Engine, folder: Path, rewrite: dict[str, Any] | None = None, *, replace: bool = False
) -> dict[str, int]:
    """Insert every table's rows from ``folder`` in one transaction: the database holds all of the
    backup or (on any error) exactly what it held before. ``replace``: delete every row first, inside
    the same transaction. ``rewrite``: table → a function applied to each decoded row."""
    ordered = tables()
    deferred = _deferred(ordered)
    counts: dict[str, int] = {}
    later: list[tuple[Table, dict[str, Any], dict[str, Any]]] = []
    with engine.begin() as conn:
        if replace:
            for table in ordered:
                if deferred.get(table.name):
                    conn.execute(update(table).values({name: None for name in deferred[table.name]}))
            for table in reversed(ordered):
                conn.execute(delete(table))
        for table in ordered:
            path = folder / f"{table.name}.jsonl"
            if not path.exists():  # a table added after the backup: it stays empty
                continue
            change = (rewrite or {}).get(table.name)
            postponed = deferred.get(table.name, [])
            batch: list[dict[str, Any]] = []
            count = 0
            with path.open(encoding="utf-8") as f:
                for line in f:
                    row = decode_row(table, json.loads(line))
                    row = change(row) if change else row
                    if values := {k: row[k] for k in postponed if row.get(k) is not None}:
                        key = {c.name: row[c.name] for c in table.primary_key.columns}
                        later.append((table, key, values))
                        row = {**row, **dict.fromkeys(values)}
                    batch.append(row)
                    if len(batch) >= INSERT_BATCH:
                        conn.execute(insert(table), batch)
                        count, batch = count + len(batch), []
            if batch:
                conn.execute(insert(table), batch)
                count += len(batch)
            counts[table.name] = count
        for table, key, values in later:
            match = [table.columns[name] == value for name, value in key.items()]
            conn.execute(update(table).where(*match).values(values))
    return counts
