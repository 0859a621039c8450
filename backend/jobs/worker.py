"""The worker loop: claim a job, run its handler under a heartbeat, record the outcome.

Handlers are registered per job kind by plugins (``ingest`` registers "ingest"); a worker only claims
kinds it can run, so workers with different plugins can share one queue. The same loop runs inside
the API process (embedded mode) and as ``kbchat worker``.

Failure policy: :class:`~backend.errors.InvalidInput` (a bad document) fails the job at once with
its message; anything else is retried with backoff up to the job's ``max_attempts``.

A handler may instead be a :class:`BatchHandler`: the worker then claims up to ``batch_size`` jobs
of its kind at once and records each one's outcome separately, so many small documents share one
embedding batch and one set of database round trips, while a bad one still fails alone.

A batch handler with a ``prepare(batch)`` method is pipelined: while one batch runs (the encoder,
in C++ threads that release the GIL, or on the GPU), the worker has already claimed the next one
and prepares it (reads, parses and chunks its documents) in a second thread. The next batch's
leases are kept alive from its claim; a worker that stops hands a prepared batch back to the queue.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from backend import tracing
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
        self.stage = ""
        """The stage last reported: where a failure happened, for the metrics."""

    def report(self, stage: str, progress: float | None = None, *, force: bool = False) -> None:
        self.stage = stage
        now = time.monotonic()
        if not force and now - self._last_report < 0.5:  # at most two writes a second
            return
        self._last_report = now
        if not self.queue.heartbeat(self.job.id, worker_id=self.worker_id, stage=stage, progress=progress):
            raise JobLost(f"job {self.job.id} is no longer held by {self.worker_id}")


class JobBatch:
    """The jobs a :class:`BatchHandler` works on, with progress reported for all in one statement."""

    def __init__(self, queue: JobQueue, contexts: Sequence[JobContext], worker_id: str) -> None:
        self.queue, self.contexts, self.worker_id = queue, list(contexts), worker_id
        self.lost: set[str] = set()
        """Jobs taken over or cancelled meanwhile: their results must not be written."""
        self.prepared: Any = None
        """What the handler's ``prepare`` made of this batch ahead of its turn (None: not prepared)."""
        self.completed: set[str] = set()
        """Jobs the handler recorded as succeeded before the batch ended (:meth:`complete`)."""
        self._last_report = time.monotonic()
        self.stage = ""
        """The stage last reported for the batch."""

    def complete(self, contexts: Sequence[JobContext]) -> None:
        """Record these jobs as succeeded now, before the rest of the batch: a small knowledge base's
        documents, stored first, do not wait for a big one's in the same batch."""
        results = {
            c.job.id: c.result
            for c in contexts
            if c.job.id not in self.lost and c.job.id not in self.completed
        }
        if results:
            done = self.queue.complete_many(results, worker_id=self.worker_id)
            self.completed |= done
            self.lost |= set(results) - done

    def report(self, stage: str, progress: float | None = None, *, force: bool = False) -> None:
        self.stage = stage
        now = time.monotonic()
        if not force and now - self._last_report < 0.5:
            return
        self._last_report = now
        ids = [c.job.id for c in self.contexts if c.job.id not in self.lost | self.completed]
        if ids:
            held = self.queue.heartbeat_many(ids, worker_id=self.worker_id, stage=stage, progress=progress)
            self.lost.update(set(ids) - held)


JobHandler = Callable[[JobContext], None]


@runtime_checkable
class BatchHandler(Protocol):
    batch_size: int

    def run_batch(self, batch: JobBatch) -> list[BaseException | None]:
        """One outcome per context, in order: None (succeeded) or the exception that failed it."""
        ...


class _Heartbeat(threading.Thread):
    """Keeps the leases alive while a handler is inside one long call (a big encode batch)."""

    def __init__(self, queue: JobQueue, job_ids: Sequence[str], worker_id: str) -> None:
        super().__init__(name=f"heartbeat-{job_ids[0][:8]}", daemon=True)
        self.queue, self.job_ids, self.worker_id = queue, list(job_ids), worker_id
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = max(self.queue.lease.total_seconds() / 3, 0.2)
        while not self.stopped.wait(interval):
            try:
                if not self.queue.heartbeat_many(self.job_ids, worker_id=self.worker_id):
                    return
            except Exception:  # a database blip must not kill the thread; the next beat retries
                log.exception("heartbeat for jobs %s failed", self.job_ids)


@dataclass
class _Claimed:
    handler: JobHandler | BatchHandler
    jobs: list[Job]
    contexts: list[JobContext]
    heartbeat: _Heartbeat
    batch: JobBatch | None = None
    preparing: Future[None] | None = None


def _outcome(error: BaseException) -> str:
    """A failed job's outcome label: taken over (lost), refused for good (invalid), or to be retried."""
    if isinstance(error, JobLost):
        return "lost"
    return "invalid" if isinstance(error, InvalidInput) else "failed"


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, JobHandler | BatchHandler],
        *,
        worker_id: str | None = None,
        poll_interval_s: float = 1.0,
        on_finished: Callable[[str, list[tuple[str, str]], float], None] | None = None,
    ) -> None:
        """``on_finished(kind, [(outcome, stage) per job], seconds)``: after each job or batch (metrics)."""
        self.queue = queue
        self.on_finished = on_finished
        self.handlers = dict(handlers)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.poll_interval_s = poll_interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: _Claimed | None = None
        """A batch claimed ahead and being prepared while the current one runs."""
        self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kbchat-prepare")

    def _claim(self, kinds: Collection[str]) -> _Claimed | None:
        """Claim one job, or a full batch for a batch handler, and start keeping its leases alive."""
        job = self.queue.claim(worker_id=self.worker_id, kinds=kinds)
        if job is None:
            return None
        handler = self.handlers[job.kind]
        jobs = [job]
        if isinstance(handler, BatchHandler) and handler.batch_size > 1:
            budget = getattr(handler, "batch_bytes", None)
            jobs += self.queue.claim_batch(
                worker_id=self.worker_id,
                kinds=[job.kind],
                limit=handler.batch_size - 1,
                max_bytes=None if budget is None else max(0, budget - self.queue.document_bytes(job)),
            )
        for claimed in jobs:
            log.info(
                "job %s (%s) attempt %d/%d started by %s",
                claimed.id,
                claimed.kind,
                claimed.attempts,
                claimed.max_attempts,
                self.worker_id,
            )
        heartbeat = _Heartbeat(self.queue, [j.id for j in jobs], self.worker_id)
        heartbeat.start()
        contexts = [JobContext(self.queue, j, self.worker_id) for j in jobs]
        batch = JobBatch(self.queue, contexts, self.worker_id) if isinstance(handler, BatchHandler) else None
        return _Claimed(handler, jobs, contexts, heartbeat, batch)

    def _claim_ahead(self, current: _Claimed) -> None:
        """Claim the next batch of the same kind and prepare it in the background."""
        prepare = getattr(current.handler, "prepare", None)
        if prepare is None or current.batch is None or self._stop.is_set():
            return
        ahead = self._claim([current.jobs[0].kind])
        if ahead is not None:
            ahead.preparing = self._preparer.submit(prepare, ahead.batch)
            self._next = ahead

    def run_once(self) -> bool:
        """Run one job or batch (claimed now, or ahead of time). False when there was nothing to do."""
        if not self.handlers:
            return False
        current, self._next = self._next, None
        if current is None:
            current = self._claim(self.handlers.keys())
        if current is None:
            return False
        kind = current.jobs[0].kind
        attributes = {"kbchat.job_kind": kind, "kbchat.jobs": len(current.jobs)}
        with tracing.span(f"job {kind}", **attributes):
            self._run_claimed(current)
        return True

    def _run_claimed(self, current: _Claimed) -> None:
        handler, contexts, heartbeat = current.handler, current.contexts, current.heartbeat
        started = time.perf_counter()
        try:
            self._claim_ahead(current)
            if current.preparing is not None:
                try:
                    current.preparing.result()
                except Exception:  # batch.prepared stays None: run_batch prepares it again and records
                    log.exception("preparing a batch ahead failed; preparing it again")
            if current.batch is not None:
                batch = current.batch
                assert isinstance(handler, BatchHandler)  # a batch is only ever made for one
                try:
                    outcomes = handler.run_batch(batch)
                except Exception as exc:
                    log.exception("batch of %d %s jobs crashed", len(contexts), current.jobs[0].kind)
                    outcomes = [exc] * len(contexts)
                outcomes = [
                    JobLost(f"job {c.job.id} is no longer held by {self.worker_id}")
                    if c.job.id in batch.lost
                    else outcome
                    for c, outcome in zip(contexts, outcomes, strict=True)
                ]
                self._observe(contexts, outcomes, started, batch.completed, batch.stage)
                kept = [i for i, c in enumerate(contexts) if c.job.id not in batch.completed]
                contexts, outcomes = [contexts[i] for i in kept], [outcomes[i] for i in kept]
            else:
                assert not isinstance(handler, BatchHandler)
                outcomes = [self._run_one(handler, contexts[0])]
                self._observe(contexts, outcomes, started, set(), contexts[0].stage)
            self._record(contexts, outcomes, started)
        finally:
            heartbeat.stopped.set()

    def _observe(
        self,
        contexts: Sequence[JobContext],
        outcomes: Sequence[BaseException | None],
        started: float,
        completed: set[str],
        stage: str,
    ) -> None:
        if self.on_finished is None:
            return
        labelled = []
        for ctx, outcome in zip(contexts, outcomes, strict=True):
            if outcome is None or ctx.job.id in completed:
                labelled.append(("succeeded", ""))
            else:
                labelled.append((_outcome(outcome), ctx.stage or stage))
        self.on_finished(contexts[0].job.kind, labelled, time.perf_counter() - started)

    @staticmethod
    def _run_one(handler: JobHandler, ctx: JobContext) -> BaseException | None:
        try:
            handler(ctx)
        except Exception as exc:
            if not isinstance(exc, (JobLost, InvalidInput)):
                log.exception("job %s (%s) crashed", ctx.job.id, ctx.job.kind)
            return exc
        return None

    def _record(
        self, contexts: list[JobContext], outcomes: Sequence[BaseException | None], started: float
    ) -> None:
        succeeded: dict[str, dict[str, Any] | None] = {}
        for ctx, outcome in zip(contexts, outcomes, strict=True):
            job_id = ctx.job.id
            if outcome is None:
                succeeded[job_id] = ctx.result
            elif isinstance(outcome, JobLost):
                log.warning("%s; another worker or a cancel took it over", outcome)
            elif isinstance(outcome, InvalidInput):
                self.queue.fail(job_id, worker_id=self.worker_id, error=outcome.message, retryable=False)
            else:
                detail = "".join(traceback.format_exception_only(outcome)).strip()
                self.queue.fail(job_id, worker_id=self.worker_id, error=detail, retryable=True)
        if succeeded:
            done = self.queue.complete_many(succeeded, worker_id=self.worker_id)
            elapsed = time.perf_counter() - started
            for job_id in done:
                log.info("job %s (%s) succeeded in %.2fs", job_id, contexts[0].job.kind, elapsed)

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
        self._hand_back()
        log.info("worker %s stopped", self.worker_id)

    def _hand_back(self) -> None:
        """A batch claimed ahead but not run goes back to the queue at once, as if never claimed."""
        ahead, self._next = self._next, None
        if ahead is None:
            return
        if ahead.preparing is not None:
            ahead.preparing.cancel()
            wait([ahead.preparing])
        ahead.heartbeat.stopped.set()
        released = self.queue.release([j.id for j in ahead.jobs], worker_id=self.worker_id)
        log.info("worker %s handed %d job(s) claimed ahead back to the queue", self.worker_id, released)

    def wake(self) -> None:
        """Tell an idle worker that a job was just queued (saves up to one poll interval)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="kbchat-worker", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Stop after the current job, without waiting (several workers stop together this way)."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            self._hand_back()  # a caller that drove run_once itself may have left a batch claimed ahead
        self._preparer.shutdown(wait=False)
