"""Sliding-window rate limits: in this process's memory, or shared through Redis.

The in-memory limiter is exact within one process and cheap (a deque per caller). Several API
processes behind a load balancer would each enforce the limit on their share (up to N times the
limit), so such a deployment sets ``KBCHAT_RATE_LIMIT_REDIS_URL`` and every process counts in one
Redis sorted set per caller, updated atomically by a Lua script on Redis's own clock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

MAX_CALLERS = 100_000
"""Callers remembered at once; the least recently seen are forgotten first (memory stays bounded)."""


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, window_s: float = 60.0) -> int | None:
        """Record a call by ``key``; None if allowed, else the seconds until the next call is."""
        ...

    def reset(self) -> None:
        """Forget every caller (operators after an incident; tests)."""
        ...


class SlidingWindowLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window_s: float = 60.0) -> int | None:
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
                return max(1, math.ceil(hits[0] + window_s - now))  # hits[0]: a float, now too
            hits.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


# KEYS[1]: the caller's sorted set. ARGV: limit, window (ms), a unique member. Returns 0 (allowed)
# or the milliseconds until the oldest call leaves the window.
_HIT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class RedisWindowLimiter:
    """The same sliding window, shared by every process that uses the same Redis.

    If Redis cannot be reached the call is allowed and the error logged: the chat stays up, and the
    daily budget (counted in the database) still caps the spend.
    """

    PREFIX = "kbchat:rl:"

    def __init__(self, url: str) -> None:
        import redis  # the client is only needed where a shared limiter is configured

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_HIT)
        self._error = redis.RedisError

    def hit(self, key: str, limit: int, window_s: float = 60.0) -> int | None:
        try:
            wait_ms = int(
                self._script(keys=[self.PREFIX + key], args=[limit, int(window_s * 1000), uuid.uuid4().hex])
            )
        except self._error as exc:
            log.error("rate limiter: Redis unreachable (%s); allowing the call", exc)
            return None
        return None if wait_ms == 0 else max(1, math.ceil(wait_ms / 1000))

    def reset(self) -> None:
        for name in self._redis.scan_iter(match=self.PREFIX + "*", count=1000):
            self._redis.delete(name)

    def close(self) -> None:
        self._redis.close()


def make_limiter(redis_url: str | None) -> RateLimiter:
    return RedisWindowLimiter(redis_url) if redis_url else SlidingWindowLimiter()
