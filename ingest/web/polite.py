"""HTTP for connectors: the address policy, ``robots.txt``, and per-host concurrency and pacing.

Every request goes through :class:`~ingest.web.fetch.SafeFetcher` (the SSRF policy on every hop,
size and time limits). On top, per host: at most ``per_host_concurrency`` requests at once and a
pause of ``per_host_delay_s`` (or the site's ``Crawl-delay``, capped) between them — shared by every
sync in this process, so two sources on one site do not add up to twice the load. ``robots.txt`` is
read once per host per sync with the standard library's parser: a missing one (4xx) allows all; one
that cannot be read (5xx, timeout) makes that host's pages fail *transiently*, so nothing is removed.
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from backend.connectors.base import Fetched, FetchFailed, Previous
from backend.connectors.config import SourcesSettings
from backend.errors import InvalidInput
from ingest.web.fetch import FetchError, Page, SafeFetcher

ROBOTS_MAX_BYTES = 512 * 1024
ROBOTS_AGENT = "kbchat-ingest"


class _Host:
    def __init__(self, concurrency: int) -> None:
        self.slots = threading.BoundedSemaphore(concurrency)
        self.lock = threading.Lock()
        self.next_at = 0.0


_hosts: dict[str, _Host] = {}
_hosts_lock = threading.Lock()


@contextmanager
def host_turn(host: str, *, concurrency: int, delay_s: float) -> Iterator[None]:
    """Wait for a free slot on ``host`` and for its pause since the last request to pass."""
    state = _hosts.get(host)
    if state is None:
        with _hosts_lock:
            state = _hosts.setdefault(host, _Host(concurrency))
    with state.slots:
        with state.lock:
            wait = state.next_at - time.monotonic()
            state.next_at = max(state.next_at, time.monotonic()) + delay_s
        if wait > 0:
            time.sleep(wait)  # pacing a remote site is waiting on a clock, not on a condition
        yield


class PoliteHttp:
    """Implements backend.connectors.base.Http for one sync."""

    def __init__(self, fetcher: SafeFetcher, limits: SourcesSettings) -> None:
        self.fetcher, self.limits = fetcher, limits
        self._robots: dict[str, urllib.robotparser.RobotFileParser | FetchFailed | None] = {}
        self.requests = 0
        self._count = threading.Lock()  # a connector may fetch on several threads

    def get(self, url: str, *, previous: Previous | None = None, robots: bool = True) -> Fetched:
        parts = urlsplit(url)
        host = parts.netloc.lower()
        delay = self.limits.per_host_delay_s
        rules = self._rules(f"{parts.scheme}://{parts.netloc}") if robots else None
        if rules is not None:  # None: the site has no rules, nothing to check (most sites' pages)
            if not rules.can_fetch(ROBOTS_AGENT, url):
                raise FetchFailed(f"{url} is disallowed by its site's robots.txt", transient=False)
            asked = rules.crawl_delay(ROBOTS_AGENT)
            if asked:
                delay = max(delay, min(float(asked), self.limits.max_crawl_delay_s))
        headers = {}
        if previous is not None and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        return self._get(url, host, delay, headers)

    def _get(
        self, url: str, host: str, delay: float, headers: dict[str, str], max_bytes: int | None = None
    ) -> Page:
        with host_turn(host, concurrency=self.limits.per_host_concurrency, delay_s=delay):
            with self._count:
                self.requests += 1
            try:
                return self.fetcher.get(url, headers=headers, max_bytes=max_bytes)
            except FetchError as exc:
                raise FetchFailed(str(exc), transient=True) from None
            except InvalidInput as exc:
                raise FetchFailed(exc.message, transient=False) from None

    def _rules(self, origin: str) -> urllib.robotparser.RobotFileParser | None:
        if origin not in self._robots:
            self._robots[origin] = self._read_robots(origin)
        known = self._robots[origin]
        if isinstance(known, FetchFailed):
            raise FetchFailed(known.message, transient=True)
        return known

    def _read_robots(self, origin: str) -> urllib.robotparser.RobotFileParser | FetchFailed | None:
        """The site's rules; None when it has none (no robots.txt, or one without a rule for anyone)."""
        rules = urllib.robotparser.RobotFileParser()
        try:
            page = self._get(
                f"{origin}/robots.txt",
                urlsplit(origin).netloc.lower(),
                self.limits.per_host_delay_s,
                {},
                ROBOTS_MAX_BYTES,
            )
        except FetchFailed as exc:
            if exc.transient:  # the site is down: say nothing about its pages rather than guess
                return FetchFailed(f"{origin}/robots.txt could not be read ({exc.message})", transient=True)
            return None  # none (404) or refused: everything allowed
        rules.parse(page.data.decode("utf-8", errors="replace").splitlines())
        # The parser keeps what it read in attributes its stubs do not declare: a file without a single
        # user-agent group has nothing to check.
        has_rules = getattr(rules, "default_entry", None) is not None or bool(getattr(rules, "entries", []))
        return rules if has_rules else None
