"""Sliding-window rate limits held in this process's memory.

Exact within one process and cheap (a deque per caller). Several API processes behind a load
balancer each enforce the limit on their share, so the effective limit is up to N times higher; a
shared store (Redis) is the follow-up for that deployment.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque

MAX_CALLERS = 100_000
"""Callers remembered at once; the least recently seen are forgotten first (memory stays bounded)."""


class SlidingWindowLimiter:
    def __init__(self, clock=time.monotonic) -> None:  # noqa: ANN001 - a callable returning seconds
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window_s: float = 60.0) -> int | None:
        """Record a call by ``key``; None if allowed, else the seconds until the next call is."""
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque()
                if len(self._hits) > MAX_CALLERS:
                    self._hits.popitem(last=False)
            self._hits.move_to_end(key)
            while hits and hits[0] <= now - window_s:
                hits.popleft()
            if len(hits) >= limit:
                return max(1, math.ceil(hits[0] + window_s - now))
            hits.append(now)
            return None
