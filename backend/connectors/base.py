"""The connector plugin API: what a connector implements, and what a sync gives it to work with.

A connector turns one *source* (a site section, a sitemap, a repository, a Confluence space…) into a
stream of items, each identified by a stable ``key``. For every item it yields one outcome:

- :class:`Content`: the item's bytes (new, or changed since the last sync);
- :class:`Unchanged`: the item exists and its change token says nothing changed (a sitemap's
  ``lastmod``, a Git blob id, an HTTP 304), so nothing is read or embedded;
- :class:`Failed`: this item could not be read now; ``transient`` failures (a 500, a timeout) keep the
  item's document, permanent ones (a 404 of a listed page, an unsupported format) are reported.

The sync engine (``ingest/sync``) does the rest for every connector alike: hashing, uploading through
the same path as a file upload (so a changed item re-embeds only its changed chunks), counting,
history, metrics, and removing the documents of items that stayed away longer than the source's
grace. An item the connector did not yield is *missing*; a connector whose listing may be partial
(a crawl that could not read a page, a sitemap cut at its page limit) calls
:meth:`SyncContext.incomplete` so nothing is removed on its word.

A third party registers a connector class under the ``kbchat.connectors`` entry point group::

    [project.entry-points."kbchat.connectors"]
    confluence = "kbchat_confluence:ConfluenceConnector"
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from backend.connectors.config import SourcesSettings


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """What the operator allows, for :meth:`Connector.check`: the fetcher's address allowlist
    (KBCHAT_INGEST__URL_ALLOWLIST) and the sources' settings (KBCHAT_SOURCES__*)."""

    url_allowlist: tuple[str, ...]
    limits: SourcesSettings


class NoSettings(BaseModel):
    """A connector that takes nothing beyond its URL."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class Previous:
    """What the last sync stored for an item (``None`` from :meth:`SyncContext.previous` for a new one)."""

    change_token: str | None
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Content:
    key: str
    data: bytes
    content_type: str = ""
    """The media type as served; with ``name``'s extension it picks the loader."""
    name: str | None = None
    """A file name for format detection and the document's title (default: the key)."""
    title: str | None = None
    source: str | None = None
    """What citations link to (default: the key)."""
    change_token: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Unchanged:
    key: str
    change_token: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    state: dict[str, Any] | None = None
    """New connector state for the item; ``None`` keeps what was stored."""


@dataclass(frozen=True, slots=True)
class Failed:
    key: str
    error: str
    transient: bool
    """True for a failure that may pass (5xx, timeout, connection refused): the item's document stays."""


Outcome = Content | Unchanged | Failed


@dataclass(frozen=True, slots=True)
class Fetched:
    """One HTTP answer: a page's bytes, or ``not_modified`` for a 304 to a conditional request."""

    url: str
    """The final URL, after redirects."""
    content_type: str
    data: bytes
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


class FetchFailed(Exception):
    """A request that failed; ``transient`` when trying again later may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message, self.transient = message, transient


class Http(Protocol):
    """Polite, policy-checked HTTP for connectors: every request (redirects included) passes the
    service's address policy, ``robots.txt`` and the per-host concurrency and delay."""

    def get(self, url: str, *, previous: Previous | None = None, robots: bool = True) -> Fetched:
        """GET ``url``, conditionally on ``previous``'s ETag / Last-Modified. Raises FetchFailed."""
        ...


class SyncContext(Protocol):
    """What a sync gives its connector."""

    @property
    def url(self) -> str: ...
    @property
    def settings(self) -> BaseModel:
        """The source's settings, validated by the connector's ``Settings``."""
        ...

    @property
    def limits(self) -> SourcesSettings: ...
    @property
    def http(self) -> Http: ...
    @property
    def workdir(self) -> Path:
        """A folder of this source's own, kept between syncs (a repository clone), removed with it."""
        ...

    @property
    def max_bytes(self) -> int:
        """The largest item the knowledge base accepts (KBCHAT_INGEST__MAX_UPLOAD_BYTES)."""
        ...

    def previous(self, key: str) -> Previous | None: ...
    def incomplete(self, reason: str) -> None:
        """This sync may not have listed every item: remove nothing."""
        ...

    def progress(self, done: int, total: int | None = None) -> None: ...


class Connector(ABC):
    """Subclass, set ``kind``, ``description`` and (optionally) ``Settings``, implement :meth:`sync`."""

    kind: ClassVar[str]
    description: ClassVar[str]
    Settings: ClassVar[type[BaseModel]] = NoSettings

    @classmethod
    def check(cls, url: str, settings: BaseModel, policy: SourcePolicy) -> None:
        """Refuse a source that can never work (raise InvalidInput saying why), before it is stored.
        The default accepts any URL: a connector that reaches the network should check its address."""
        return None

    @abstractmethod
    def sync(self, ctx: SyncContext) -> Iterator[Outcome]:
        """Yield one outcome per item of the source as it is now."""
