"""Questions asked at the same time are encoded together.

One question is one forward pass of a small model, where the fixed cost of a pass dominates: on these
2 cores all-MiniLM encodes 74 questions a second one at a time and 353 a second in batches (issue #19).
Requests served by a thread pool each called the encoder on their own, so 32 concurrent clients got
the one-at-a-time rate, and each pass competed with the others for the same cores.

A single encoder thread takes *every* question waiting when it becomes free, up to ``max_batch``, and
encodes them as one batch (the way text-embeddings servers batch dynamically). There is no collection
window: a lone question starts at once, and under load the batch is whatever arrived during the
previous pass, so batching grows with the load and adds no wait when there is none.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

log = logging.getLogger(__name__)

MAX_BATCH = 64
IDLE_S = 30.0
"""The encoder thread ends after this long with nothing to do (the next question starts another): an
encoder evicted from memory must not be kept alive by its idle thread."""


class QueryBatcher:
    def __init__(
        self, encode: Callable[[list[str]], np.ndarray], *, max_batch: int = MAX_BATCH, name: str = ""
    ) -> None:
        """``encode``: texts → one unit vector per text, in order (the encoder's own question path)."""
        self._encode, self.max_batch, self.name = encode, max_batch, name
        self._pending: list[tuple[str, Future[np.ndarray]]] = []
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.questions = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of ``texts``, encoded together with whatever other threads asked meanwhile."""
        futures: list[Future[np.ndarray]] = [Future() for _ in texts]
        with self._ready:
            self._pending.extend(zip(texts, futures, strict=True))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"kbchat-queries-{self.name}", daemon=True
                )
                self._thread.start()
            self._ready.notify()
        return np.stack([f.result() for f in futures])

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._pending:
                    self._ready.wait(IDLE_S)
                if not self._pending:  # idle: end, releasing the encoder (a new question restarts us)
                    self._thread = None
                    return
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                vectors = self._encode([text for text, _ in batch])
            except BaseException as exc:  # the callers raise it; the thread serves the next batch
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.batches += 1
            self.questions += len(batch)
            for (_, future), vector in zip(batch, vectors, strict=True):
                future.set_result(vector)
