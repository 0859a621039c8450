"""Real ``kbchat worker`` processes sharing one PostgreSQL queue: several drain a backlog with every
document processed exactly once, and a worker killed with SIGKILL mid-job has its job finished by
another, with no duplicate and no orphaned vectors.

The embedded vector store (Qdrant Edge) belongs to one process, so each concurrent worker writes to a
store of its own here (in production they share a Qdrant server); "exactly once" is then checked across all
stores: every document's points are in exactly one of them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from backend.catalog import documents as docs
from backend.catalog import knowledge_bases as kbs
from backend.db.engine import make_engine, make_session_factory
from backend.db.migrate import upgrade
from backend.db.models import Document, DocumentStatus, Job, JobStatus
from backend.vectorstore.edge import EdgeVectorStore

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
KBCHAT = str(Path(sys.executable).parent / "kbchat")


def _env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBCHAT_")}
    env.update(
        {
            "KBCHAT_DATA_DIR": str(data_dir),
            "KBCHAT_DATABASE__URL": database_url,
            "KBCHAT_WORKER__POLL_INTERVAL_S": "0.2",
            "HF_HUB_OFFLINE": "1",
            **extra,
        }
    )
    return env


class Workers:
    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.tmp_path, self.database_url = tmp_path, database_url
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, data_dir: Path, **extra: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp_path / f"{name}.log"
        proc = subprocess.Popen(
            [KBCHAT, "worker"],
            env=_env(data_dir, self.database_url, **extra),
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        self.procs.append((proc, log))
        return proc, log

    def wait_ready(self, log: Path, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "running job kinds" in log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise AssertionError(f"worker did not start:\n{log.read_text(errors='replace')[-3000:]}")

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def workers(tmp_path: Path, postgres_url: str) -> Iterator[Workers]:
    pool = Workers(tmp_path, postgres_url)
    yield pool
    pool.stop_all()


def _sessions(database_url: str):
    engine = make_engine(database_url)
    upgrade(engine)
    return make_session_factory(engine)


def _queue(sessions, texts: list[str]) -> tuple[str, list[str]]:
    with sessions.begin() as session:
        kb = kbs.create(session, name="backlog")
        ids = [
            docs.accept_upload(
                session, kb_id=kb.id, data=text.encode(), format="text", name=f"doc-{i}.txt", max_bytes=10**7
            ).document.id
            for i, text in enumerate(texts)
        ]
        return kb.id, ids


def _wait_jobs_done(sessions, timeout: float) -> list[Job]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            jobs = list(session.scalars(select(Job)))
        if jobs and all(j.status not in (JobStatus.QUEUED, JobStatus.RUNNING) for j in jobs):
            return jobs
        time.sleep(0.5)
    raise AssertionError(f"jobs not done in {timeout}s: {Counter(j.status for j in jobs)}")


def _points_by_document(data_dir: Path) -> Counter[str]:
    """Points per document in a worker's embedded store (Qdrant Edge: one shard per encoder)."""
    counts: Counter[str] = Counter()
    for meta in (data_dir / "edge").glob("*/kbchat.json"):
        identity = json.loads(meta.read_text())
        store = EdgeVectorStore(
            data_dir / "edge",
            prefix="kbchat",
            encoder_id=identity["encoder_id"],
            dimension=identity["dimension"],
        )
        try:
            counts.update({doc: n for (_, doc), n in store.inventory().items()})
        finally:
            store.close()
    return counts


def test_three_workers_drain_a_backlog_exactly_once(
    tmp_path: Path, postgres_url: str, workers: Workers
) -> None:
    sessions = _sessions(postgres_url)
    with socket.socket() as probe:  # a free port for the first worker's metrics
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Batches of 16 (the default, 256, would let the first worker take the whole backlog at once).
    started = [
        workers.start(
            f"w{i}",
            tmp_path / f"w{i}",
            KBCHAT_INGEST__BATCH_DOCUMENTS="16",
            **({"KBCHAT_WORKER__METRICS_PORT": str(port)} if i == 0 else {}),
        )
        for i in range(3)
    ]
    for _, log in started:
        workers.wait_ready(log)
    texts = [
        f"Document {i}: the answer to question number {i} is {i * 7 % 1000} widgets." for i in range(200)
    ]
    _, ids = _queue(sessions, texts)

    jobs = _wait_jobs_done(sessions, timeout=240)
    scraped = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
        for s in family.samples
    }
    workers.stop_all()
    assert len(jobs) == 200 and all(j.status == JobStatus.SUCCEEDED and j.attempts == 1 for j in jobs)
    with sessions() as session:
        statuses = Counter(d.status for d in session.scalars(select(Document)))
    assert statuses == {DocumentStatus.READY: 200}

    per_store = [_points_by_document(tmp_path / f"w{i}") for i in range(3)]
    holders = Counter(doc for store in per_store for doc in store)
    assert set(holders) == set(ids) and set(holders.values()) == {1}  # each document in exactly one store
    assert all(count == 1 for store in per_store for count in store.values())  # one chunk each, no duplicate
    assert all(per_store), f"a worker processed nothing: {[len(s) for s in per_store]}"
    # The first worker's own metrics: the jobs it finished, and the whole queue as the database has it.
    mine = (("kind", "ingest"), ("outcome", "succeeded"), ("stage", ""))
    assert scraped[("kbchat_jobs_finished_total", mine)] == len(per_store[0])
    assert scraped[("kbchat_ingested_documents_total", ())] == len(per_store[0])
    assert scraped[("kbchat_jobs", (("kind", "ingest"), ("status", "succeeded")))] == 200
    starts = Counter(
        line.split("job ", 1)[1].split(" ", 1)[0]
        for _, log in started
        for line in log.read_text().splitlines()
        if " started by " in line
    )
    assert len(starts) == 200 and set(starts.values()) == {1}


def test_a_killed_worker_s_job_is_finished_by_another(
    tmp_path: Path, postgres_url: str, workers: Workers
) -> None:
    sessions = _sessions(postgres_url)
    data_dir = tmp_path / "data"  # the same store for both: the second worker is the first one's restart
    sentences = [
        f"Paragraph {i} explains configuration option number {i} and its default value." for i in range(3000)
    ]
    text = "\n\n".join(" ".join(sentences[i : i + 10]) for i in range(0, len(sentences), 10))
    _, (document_id,) = _queue(sessions, [text])

    first, log = workers.start("first", data_dir, KBCHAT_WORKER__LEASE_S="2")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with sessions() as session:
            job = session.scalar(select(Job))
        if job is not None and job.status == JobStatus.RUNNING and job.stage == "embedding":
            break  # killed mid-embedding: chunks parsed, no vectors stored yet
        time.sleep(0.05)
    else:
        raise AssertionError(log.read_text())
    first.kill()
    first.wait(10)
    with sessions() as session:
        killed = session.scalar(select(Job))
    assert killed is not None and killed.status == JobStatus.RUNNING, "the job finished before the kill"

    workers.start("second", data_dir, KBCHAT_WORKER__LEASE_S="2")
    (job,) = _wait_jobs_done(sessions, timeout=180)
    workers.stop_all()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2, job.error
    with sessions() as session:
        document = session.get(Document, document_id)
        assert document is not None and document.status == DocumentStatus.READY
        chunks = document.chunk_count
    points = _points_by_document(data_dir)
    assert points == {document_id: chunks} and chunks > 100

    doctor = subprocess.run(
        [KBCHAT, "doctor", "--json"],
        env=_env(data_dir, postgres_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert '"healthy": true' in doctor.stdout
