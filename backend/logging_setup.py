"""One logging setup for the API, the worker and the CLI, as text or as JSON lines.

Every line carries the request id of the HTTP request it was written for (``-`` outside one: the
worker, the CLI), so one visitor's failing chat can be followed through the log at 3 a.m. The id is
set by :class:`backend.api.request_id.RequestIdMiddleware` and travels in a context variable: into
the thread pool that runs synchronous routes (anyio copies the context) and through a streamed
answer. ``KBCHAT_LOG_FORMAT=json`` writes one JSON object per line for a log shipper.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, Literal

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
"""The id of the HTTP request being handled in this context."""

LogFormat = Literal["text", "json"]
TEXT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s]: %(message)s"
DATE = "%Y-%m-%dT%H:%M:%S"


def _with_request_id(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = request_id.get()
        return record

    make.kbchat = True  # type: ignore[attr-defined]
    return make


def stamp_request_ids() -> None:
    """Give every log record the current request id, whatever handler reads it (ours, pytest's, a
    library's). Called by :func:`configure_logging` and by the request-id middleware; once is enough."""
    if not getattr(logging.getLogRecordFactory(), "kbchat", False):
        logging.setLogRecordFactory(_with_request_id(logging.getLogRecordFactory()))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, message (and exc when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, DATE),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not the stream that was current
    when logging was configured: a handler bound to a replaced stream (a test's capture, a daemon's
    redirect) that was since closed turns every later line into "Logging error ... closed file"."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str = "INFO", log_format: LogFormat = "text") -> None:
    stamp_request_ids()
    root = logging.getLogger()
    root.setLevel(level.upper())
    handler = next((h for h in root.handlers if getattr(h, "kbchat", False)), None)
    if handler is None:  # once per process, however often settings are read
        handler = StderrHandler()
        handler.kbchat = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT, DATE))
    for noisy in (
        "httpx",
        "httpx2",
        "sentence_transformers",
        "transformers",
        "urllib3",
        "alembic.runtime.migration",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
