"""Loaded encoders, bounded: a least-recently-used cache with single-flight loading.

Every knowledge base may run on its own fine-tuned encoder, and a service hosts many, so models are
loaded when first needed and the least recently used ones are dropped past ``max_loaded`` (the base
model is never dropped: most knowledge bases use it). Concurrent first queries for a cold encoder
wait for one load instead of each loading a copy. An evicted model stays alive for operations that
still hold it in a snapshot; it is freed when the last one finishes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Pending(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: BaseException | None = None


class LoadedEncoders(Generic[T]):
    """``get(key, load)``: the cached value for ``key``, or ``load()``'s, run once however many ask."""

    def __init__(self, *, max_loaded: int) -> None:
        if max_loaded < 1:
            raise ValueError("max_loaded must be at least 1")
        self.max_loaded = max_loaded
        self._cache: OrderedDict[str, T] = OrderedDict()
        self._pending: dict[str, _Pending[T]] = {}
        self._lock = threading.Lock()
        self.loads = 0
        """Loads started (for tests and the benchmark: a cache hit starts none)."""
        self.evictions = 0

    def get(self, key: str, load: Callable[[], T]) -> T:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            pending = self._pending.get(key)
            leader = pending is None
            if pending is None:
                pending = self._pending[key] = _Pending()
                self.loads += 1
        if not leader:
            pending.done.wait()
            if pending.error is not None:
                raise pending.error
            assert pending.value is not None
            return pending.value
        started = time.perf_counter()
        try:
            pending.value = load()
        except BaseException as exc:
            pending.error = exc  # the waiters see the same error; the next call tries again
            raise
        finally:
            with self._lock:
                del self._pending[key]
                if pending.error is None and pending.value is not None:
                    self._cache[key] = pending.value
                    self._evict()
            pending.done.set()
        log.info("encoder %s loaded in %.2fs (%d in memory)", key, time.perf_counter() - started, len(self))
        return pending.value

    def _evict(self) -> None:
        while len(self._cache) > self.max_loaded:
            key, _ = self._cache.popitem(last=False)
            self.evictions += 1
            log.info(
                "encoder %s unloaded (least recently used; KBCHAT_ENCODER__MAX_LOADED=%d)",
                key,
                self.max_loaded,
            )

    def discard(self, key: str) -> None:
        with self._lock:
            self._cache.pop(key, None)

    def keys(self) -> list[str]:
        """Loaded keys, least recently used first."""
        with self._lock:
            return list(self._cache)

    def __len__(self) -> int:
        return len(self._cache)
