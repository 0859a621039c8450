"""What a sync reads and writes about each item: loaded once at the start, written in batches.

An unchanged item whose tokens did not move costs no write at all: missing items are found in memory
(the keys the connector did not yield), not with a ``seen_at`` stamp per row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from backend.connectors.base import Previous
from backend.db.models import SourceItem, utcnow


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()


@dataclass(slots=True)
class ItemRow:
    key: str
    document_id: str | None
    owned: bool
    change_token: str | None
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    state: dict[str, Any]
    missing_since: datetime | None
    error: str | None

    def previous(self) -> Previous | None:
        """None when the item's document is gone (deleted by hand): the connector reads it afresh."""
        if self.document_id is None:
            return None
        return Previous(self.change_token, self.etag, self.last_modified, self.content_hash, self.state)

    def values(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "owned": self.owned,
            "change_token": self.change_token,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "content_hash": self.content_hash,
            "state": self.state,
            "missing_since": self.missing_since,
            "error": self.error,
        }


def load_items(session: Session, source_id: str) -> dict[str, ItemRow]:
    """Every item of the source, as plain rows (columns, not ORM objects: a sync of 10,000 pages
    reads them all before its first request)."""
    rows = session.execute(
        select(
            SourceItem.key,
            SourceItem.document_id,
            SourceItem.owned,
            SourceItem.change_token,
            SourceItem.etag,
            SourceItem.last_modified,
            SourceItem.content_hash,
            SourceItem.state,
            SourceItem.missing_since,
            SourceItem.error,
        ).where(SourceItem.source_id == source_id)
    )
    return {
        r[0]: ItemRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], dict(r[7] or {}), r[8], r[9]) for r in rows
    }


@dataclass
class ItemWriter:
    """Item rows to insert, update or delete, written together by :meth:`flush`."""

    source_id: str
    new: dict[str, ItemRow] = field(default_factory=dict)
    changed: dict[str, ItemRow] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.new) + len(self.changed) + len(self.gone)

    def flush(self, session: Session) -> None:
        now = utcnow()
        if self.new:
            session.execute(
                insert(SourceItem),
                [
                    {
                        "source_id": self.source_id,
                        "key_hash": key_hash(k),
                        "key": k,
                        "seen_at": now,
                        **r.values(),
                    }
                    for k, r in self.new.items()
                ],
            )
        for key, row in self.changed.items():
            session.execute(
                update(SourceItem)
                .where(SourceItem.source_id == self.source_id, SourceItem.key_hash == key_hash(key))
                .values(seen_at=now, **row.values())
            )
        if self.gone:
            session.execute(
                delete(SourceItem).where(
                    SourceItem.source_id == self.source_id,
                    SourceItem.key_hash.in_([key_hash(k) for k in self.gone]),
                )
            )
        self.new, self.changed, self.gone = {}, {}, set()
