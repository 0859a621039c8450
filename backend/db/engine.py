"""Engine and session factory for SQLite (embedded default) and PostgreSQL (production).

SQLite is made to behave like a real transactional database: foreign keys on, WAL so readers never
block the writer, a busy timeout instead of instant "database is locked", and every transaction
opened with ``BEGIN IMMEDIATE`` so two writers queue up instead of deadlocking on lock upgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from backend.errors import InvalidInput


def _refuse_nul(params: Any) -> None:
    """PostgreSQL cannot store or compare text holding NUL (U+0000) and fails the statement; SQLite
    stores it. Refuse it the same way on both, before the statement runs, with a 4xx that says what
    to fix, wherever the text came from (a body, a query string, a file name)."""
    rows = params if isinstance(params, list) else [params]
    for row in rows:
        values = row.values() if isinstance(row, dict) else row if isinstance(row, tuple | list) else ()
        for value in values:
            if isinstance(value, str) and "\x00" in value:
                raise InvalidInput(
                    f"text may not contain NUL characters (U+0000): {value[:60]!r}; remove them and retry"
                )


def _private_file(path: Path) -> None:
    """The SQLite file holds secrets and visitors' contact details: readable by its owner only. SQLite
    gives its -wal and -shm files the database file's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def make_engine(url: str, *, echo: bool = False, readonly: bool = False) -> Engine:
    """The engine for ``url``. With ``readonly`` on SQLite: an engine for the request path's reads (an
    API key, a knowledge base's settings) whose connections refuse writes (``query_only``) and whose
    reads take no lock — WAL lets them run beside the writer — where the writing engine's ``BEGIN
    IMMEDIATE`` would queue every search behind every other request's transaction."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
        event.listen(engine, "before_cursor_execute", _check_params)
        return engine

    if parsed.database and parsed.database != ":memory:":
        _private_file(Path(parsed.database))
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=20 if readonly else 10,  # the API's thread pool: no connection opened per request
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite's implicit BEGIN is off; we issue our own below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if readonly:
            cursor.execute("PRAGMA query_only=ON")
        else:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    if readonly:  # each read is its own snapshot: no BEGIN, so no lock held between statements
        event.listen(engine, "before_cursor_execute", _check_params)
        return engine

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "before_cursor_execute", _check_params)
    return engine


def _check_params(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _executemany: bool
) -> None:
    _refuse_nul(parameters)


def rows_changed(result: Result[Any]) -> int:
    """Rows an UPDATE changed (its result is a cursor's): how a conditional update learns it won."""
    return result.rowcount if isinstance(result, CursorResult) else 0


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: objects returned from a data function stay readable after its commit.
    return sessionmaker(engine, expire_on_commit=False)
