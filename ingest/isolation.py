"""Parse untrusted files in a child process with a memory cap and a deadline.

One pathological upload (a decompression bomb, a PDF whose content stream loops, a 2 GB table) must
fail that one document, never the worker and the documents queued behind it. So parsing runs in a
long-lived child process: started once (``spawn``, so no torch threads or locks are inherited),
given ``RLIMIT_AS`` as its memory cap, and fed one document at a time over a pipe. When a parse runs
past its deadline the child is killed; when the child dies (the kernel's OOM killer, a segfault in
a C extension) its exit code is reported. Either way the next document gets a fresh child.

The cost per document is one pickle round trip over a pipe (well under a millisecond for typical
files), not a process start; the start (about a second of imports) is paid once per worker.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing as mp
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from backend import errors

log = logging.getLogger(__name__)

DEFAULT_TARGET = "ingest.loaders:parse"


def _child_main(conn: Connection, memory_bytes: int | None, target: str) -> None:
    """The child's loop: apply the memory cap, then answer ``(data, format, name)`` requests."""
    if memory_bytes:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        except (ImportError, ValueError, OSError) as exc:  # not Linux/macOS: run without the cap
            log.warning("cannot cap the parser's memory on this platform: %s", exc)
    module, _, attribute = target.partition(":")
    parse = getattr(importlib.import_module(module), attribute)
    from ingest.loaders import progress

    progress.listen(lambda: conn.send(("alive",)))
    conn.send(("ready",))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        data, fmt, name = request
        # The reply is sent after the ``except`` block: until it ends, the exception's traceback keeps the
        # loader's frames alive, and with them whatever filled the memory cap — sending from inside it
        # could itself fail for want of memory, and the parent would see a dead child instead.
        try:
            reply: tuple[Any, ...] = ("ok", parse(data, format=fmt, name=name))
        except MemoryError:
            reply = ("memory", None, "")
        except errors.KbchatError as exc:
            reply = ("error", type(exc).__name__, exc.message)
        except Exception as exc:  # a loader bug or an unexpected malformation: still this file's fault
            reply = ("error", "InvalidInput", f"{name} could not be parsed ({type(exc).__name__}: {exc})")
        conn.send(reply)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class IsolatedParser:
    """``parse(data, format=, name=)`` with the same contract as :func:`ingest.loaders.parse`, run in
    a child process. Thread-safe: one request at a time per instance."""

    def __init__(
        self, *, timeout_s: float = 120.0, memory_mb: int | None = 2048, target: str = DEFAULT_TARGET
    ) -> None:
        self.timeout_s = timeout_s
        self.memory_bytes = memory_mb * 1024 * 1024 if memory_mb else None
        self.memory_mb = memory_mb
        self.target = target
        self._ctx = mp.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def _start(self) -> Connection:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_child_main,
            args=(child, self.memory_bytes, self.target),
            name="kbchat-parser",
            daemon=True,
        )
        process.start()
        child.close()
        started = time.monotonic()
        if not parent.poll(60) or parent.recv() != ("ready",):
            process.kill()
            raise errors.Unavailable("the parser process did not start within 60 s; see the worker's log")
        log.debug("parser process %s ready in %.2fs", process.pid, time.monotonic() - started)
        self._process, self._conn = process, parent
        return parent

    def _discard(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None

    def parse(self, data: bytes, *, format: str, name: str) -> Any:
        with self._lock:
            conn = self._conn if self._process is not None and self._process.is_alive() else None
            if conn is None:
                self._discard()
                conn = self._start()
            try:
                conn.send((data, format, name))
                while (
                    True
                ):  # the deadline counts from the loader's last sign of life (ingest/loaders/progress)
                    if not conn.poll(self.timeout_s):
                        self._discard()
                        raise errors.InvalidInput(
                            f"parsing {name} made no progress for {self.timeout_s:g} s and was stopped; the "
                            "file may be pathological. Split it, or raise KBCHAT_INGEST__PARSE_TIMEOUT_S."
                        )
                    reply = conn.recv()
                    if reply[0] != "alive":
                        break
            except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
                process = self._process
                if process is not None:
                    process.join(5)
                code = process.exitcode if process is not None else None
                self._discard()
                raise errors.InvalidInput(
                    f"the parser process died while reading {name} ({_describe_exit(code)}); the file is "
                    f"corrupt or needs more than {self.memory_mb} MB (KBCHAT_INGEST__PARSE_MEMORY_MB)"
                ) from None
        kind = reply[0]
        if kind == "ok":
            return reply[1]
        if kind == "memory":
            self.close()  # a child that hit its cap may be fragmented; start clean
            raise errors.InvalidInput(
                f"parsing {name} needed more than {self.memory_mb} MB and was stopped; split the file or "
                "raise KBCHAT_INGEST__PARSE_MEMORY_MB"
            )
        error_type = getattr(errors, reply[1], errors.InvalidInput)
        raise error_type(reply[2])

    def close(self) -> None:
        with self._lock:
            self._discard()
