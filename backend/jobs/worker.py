"""The worker loop: claim a job, run its handler under a heartbeat, record the outcome.

Handlers are registered per job kind by plugins (``ingest`` registers "ingest"); a worker only claims
kinds it can run, so workers with different plugins can share one queue. The same loop runs inside
the API process (embedded mode) and as ``kbchat worker``.

Failure policy: :class:`~backend.errors.InvalidInput` (a bad document) fails the job at once with
its message; anything else is retried with backoff up to the job's ``max_attempts``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from backend.db.models import Job
from backend.errors import InvalidInput
from backend.jobs.queue import JobQueue

log = logging.getLogger(__name__)


class JobLost(Exception):
    """The job's lease went to another worker (or it was cancelled); drop the work quietly."""


class JobContext:
    """Handed to a handler: the job, plus progress reporting that doubles as a liveness check."""

    def __init__(self, queue: JobQueue, job: Job, worker_id: str) -> None:
        self.queue, self.job, self.worker_id = queue, job, worker_id
        self.result: dict[str, Any] | None = None
        """Set by a handler to keep an outcome with the job (GET /v1/jobs/{id} shows it)."""
        self._last_report = time.monotonic()  # the claim just wrote the lease

    def report(self, stage: str, progress: float | None = None, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_report < 0.5:  # at most two writes a second
            return
        self._last_report = now
        if not self.queue.heartbeat(self.job.id, worker_id=self.worker_id, stage=stage, progress=progress):
            raise JobLost(f"job {self.job.id} is no longer held by {self.worker_id}")


JobHandler = Callable[[JobContext], None]


class _Heartbeat(threading.Thread):
    """Keeps the lease alive while a handler is inside one long call (a big encode batch)."""

    def __init__(self, queue: JobQueue, job_id: str, worker_id: str) -> None:
        super().__init__(name=f"heartbeat-{job_id[:8]}", daemon=True)
        self.queue, self.job_id, self.worker_id = queue, job_id, worker_id
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = max(self.queue.lease.total_seconds() / 3, 0.2)
        while not self.stopped.wait(interval):
            try:
                if not self.queue.heartbeat(self.job_id, worker_id=self.worker_id):
                    return
            except Exception:  # a database blip must not kill the thread; the next beat retries
                log.exception("heartbeat for job %s failed", self.job_id)


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, JobHandler],
        *,
        worker_id: str | None = None,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.queue = queue
        self.handlers = dict(handlers)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.poll_interval_s = poll_interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> bool:
        """Claim and run one job. False when there was nothing to do."""
        if not self.handlers:
            return False
        job = self.queue.claim(worker_id=self.worker_id, kinds=self.handlers.keys())
        if job is None:
            return False
        log.info(
            "job %s (%s) attempt %d/%d started by %s",
            job.id,
            job.kind,
            job.attempts,
            job.max_attempts,
            self.worker_id,
        )
        heartbeat = _Heartbeat(self.queue, job.id, self.worker_id)
        heartbeat.start()
        started = time.perf_counter()
        ctx = JobContext(self.queue, job, self.worker_id)
        try:
            self.handlers[job.kind](ctx)
        except JobLost as exc:
            log.warning("%s; another worker or a cancel took it over", exc)
        except InvalidInput as exc:
            self.queue.fail(job.id, worker_id=self.worker_id, error=exc.message, retryable=False)
        except Exception as exc:
            log.exception("job %s (%s) crashed", job.id, job.kind)
            detail = "".join(traceback.format_exception_only(exc)).strip()
            self.queue.fail(job.id, worker_id=self.worker_id, error=detail, retryable=True)
        else:
            if self.queue.complete(job.id, worker_id=self.worker_id, result=ctx.result):
                log.info("job %s (%s) succeeded in %.2fs", job.id, job.kind, time.perf_counter() - started)
        finally:
            heartbeat.stopped.set()
        return True

    def run_forever(self) -> None:
        log.info("worker %s running job kinds %s", self.worker_id, sorted(self.handlers) or "(none)")
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the database went away: wait, then try again rather than die
                log.exception("worker %s could not claim a job; retrying", self.worker_id)
                busy = False
            if not busy:
                self._wake.wait(self.poll_interval_s)
                self._wake.clear()
        log.info("worker %s stopped", self.worker_id)

    def wake(self) -> None:
        """Tell an idle worker that a job was just queued (saves up to one poll interval)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="kbchat-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
