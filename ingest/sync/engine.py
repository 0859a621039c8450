"""One sync of one source: apply each outcome its connector yields, then deal with what went missing.

- **Content** whose bytes hash like the last sync's is unchanged (a server that ignores conditional
  requests still costs no embedding); otherwise it goes through the upload path (``accept_upload``),
  where a new version replaces the document of the same source and only its changed chunks are
  embedded again. Its item row is written in the upload's transaction: never a document without one.
- **Unchanged** costs a write only when a token moved.
- **Failed** is counted and reported; the item's document stays, whatever the failure.
- **Missing** (not yielded): marked, and removed once missing for the source's grace — but only
  after a sync that listed everything (no transient failure, no limit cut it short).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import documents as docs
from backend.catalog.sources import removable_documents
from backend.connectors.base import Content, Failed, Outcome, Unchanged
from backend.db.models import utcnow
from backend.errors import InvalidInput, NotFound
from backend.vectorstore.base import VectorStore
from ingest.sync.state import ItemRow, ItemWriter, key_hash
from ingest.web.handler import served_format

log = logging.getLogger(__name__)
MAX_SYNC_ERRORS = 100
FLUSH_EVERY = 200
MAX_KEY_CHARS = 2000
COUNTS = ("added", "changed", "unchanged", "failed", "missing", "removed")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a sync's documents go."""

    source_id: str
    kb_id: str
    tags: list[str]
    remove_after_s: int
    max_bytes: int
    max_attempts: int


@dataclass
class SyncRun:
    target: Target
    sessions: sessionmaker[Session]
    items: dict[str, ItemRow]
    wake: Callable[[], None]
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    errors: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.writer = ItemWriter(self.target.source_id)
        self._uploads = 0

    def apply(self, outcome: Outcome) -> None:
        key = outcome.key
        if key in self.seen:
            return  # a connector that yields a key twice: the first outcome stands
        if not key or len(key) > MAX_KEY_CHARS:
            self._fail(Failed(key[:200], f"an item key must be 1 to {MAX_KEY_CHARS} characters", False))
            return
        self.seen.add(key)
        if isinstance(outcome, Failed):
            self._fail(outcome)
        elif isinstance(outcome, Unchanged):
            self._unchanged(outcome)
        else:
            self._content(outcome)
        if len(self.writer) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if len(self.writer):
            with self.sessions.begin() as session:
                self.writer.flush(session)

    def _fail(self, failed: Failed) -> None:
        self.counts["failed"] += 1
        if len(self.errors) < MAX_SYNC_ERRORS:
            self.errors.append(
                {"key": failed.key, "error": failed.error[:500], "transient": failed.transient}
            )
        log.warning("source %s: %s failed: %s", self.target.source_id, failed.key, failed.error)
        row = self.items.get(failed.key)
        if row is not None and (row.error != failed.error or row.missing_since is not None):
            row.error, row.missing_since = failed.error[:2000], None
            self.writer.changed[failed.key] = row

    def _unchanged(self, outcome: Unchanged) -> None:
        row = self.items.get(outcome.key)
        self.counts["unchanged"] += 1
        if row is None:  # a connector's word for an item we never stored: keep its tokens for next time
            row = ItemRow(outcome.key, None, False, None, None, None, None, {}, None, None)
            self.items[outcome.key] = row
            self.writer.new[outcome.key] = row
        before = (row.change_token, row.etag, row.last_modified, row.state, row.missing_since, row.error)
        row.change_token = outcome.change_token or row.change_token
        row.etag = outcome.etag or row.etag
        row.last_modified = outcome.last_modified or row.last_modified
        row.state = outcome.state if outcome.state is not None else row.state
        row.missing_since = row.error = None
        if outcome.key not in self.writer.new and before != (
            row.change_token,
            row.etag,
            row.last_modified,
            row.state,
            None,
            None,
        ):
            self.writer.changed[outcome.key] = row

    def _content(self, content: Content) -> None:
        digest = hashlib.sha256(content.data).hexdigest()
        row = self.items.get(content.key)
        if row is not None and row.document_id is not None and row.content_hash == digest:
            tokens = (content.change_token, content.etag, content.last_modified, content.state)
            self._unchanged(Unchanged(content.key, *tokens))
            return
        try:
            format = served_format(content.name or content.key, content.content_type)
            source = (content.source or content.key)[:2000]
            with self.sessions.begin() as session:
                accepted = docs.accept_upload(
                    session,
                    kb_id=self.target.kb_id,
                    data=content.data,
                    format=format,
                    name=(content.name or content.key)[:500],
                    title=content.title,
                    source=source,
                    tags=self.target.tags,
                    max_bytes=self.target.max_bytes,
                    max_attempts=self.target.max_attempts,
                )
                new = row is None
                if row is None:
                    row = ItemRow(content.key, None, False, None, None, None, None, {}, None, None)
                    self.items[content.key] = row
                    self.writer.new[content.key] = row
                else:
                    self.writer.changed[content.key] = row
                self.counts["added" if new or row.document_id is None else "changed"] += 1
                row.document_id, row.content_hash = accepted.document.id, digest
                row.owned = accepted.document.source == source  # not someone's identical upload
                row.change_token, row.etag = content.change_token, content.etag
                row.last_modified, row.state = content.last_modified, content.state
                row.missing_since = row.error = None
                self.writer.flush(session)
        except InvalidInput as exc:  # unsupported format, empty, too large: this item only
            self._fail(Failed(content.key, exc.message, transient=False))
            return
        self._uploads += 1
        if self._uploads % 10 == 1:  # the first page starts embedding at once, then every tenth
            self.wake()

    def settle_missing(self, stores: Sequence[VectorStore]) -> None:
        """Mark items the connector did not yield as missing, and remove those missing past the grace.
        Only called after a complete listing."""
        now = utcnow()
        doomed: list[str] = []
        for key, row in self.items.items():
            if key in self.seen:
                continue
            if row.missing_since is None:
                row.missing_since = now
                self.writer.changed[key] = row
            if (now - row.missing_since).total_seconds() >= self.target.remove_after_s:
                doomed.append(key)
            else:
                self.counts["missing"] += 1
        self.flush()
        for key in doomed:
            self._remove(key, stores)

    def _remove(self, key: str, stores: Sequence[VectorStore]) -> None:
        with self.sessions.begin() as session:
            document_id = next(
                iter(removable_documents(session, self.target.source_id, [key_hash(key)])), None
            )
        if document_id is not None:
            with suppress(NotFound):  # deleted by hand meanwhile
                docs.delete(self.sessions, stores, self.target.kb_id, document_id)
        self.writer.gone.add(key)
        self.flush()
        self.counts["removed"] += 1
        log.info(
            "source %s: %s is gone from the source; its document was removed", self.target.source_id, key
        )
