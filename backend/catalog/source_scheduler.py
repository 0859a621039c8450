"""Queues the syncs of sources whose schedule has come, from inside every process that runs workers.

No external cron: each worker process looks every ``KBCHAT_SOURCES__SCHEDULER_INTERVAL_S``. Several
processes looking at once is safe — a source's next time is moved on with a conditional UPDATE before
its sync is queued, so exactly one of them queues it (backend/catalog/sources.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from backend.catalog.sources import queue_due

log = logging.getLogger(__name__)


class SourceScheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        interval_s: float,
        max_attempts: int,
        on_queued: Callable[[], None],
    ) -> None:
        self.sessions, self.interval_s, self.max_attempts = sessions, interval_s, max_attempts
        self.on_queued = on_queued
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> int:
        """Queue every sync that is due now; how many were queued."""
        with self.sessions.begin() as session:
            queued = queue_due(session, max_attempts=self.max_attempts)
        if queued:
            self.on_queued()
        return len(queued)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # the database went away: try again at the next tick rather than die
                log.exception("the source scheduler could not queue due syncs; trying again")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kbchat-source-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
