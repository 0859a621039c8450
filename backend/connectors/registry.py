"""Connector kinds: the built-in ones and third parties', all from the ``kbchat.connectors`` entry point.

Built-ins live in ``ingest`` and are registered in pyproject.toml like anyone else's, so the service
validates a source's settings against the connector that will sync it without importing ``ingest``.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from backend.connectors.base import Connector
from backend.errors import InvalidInput

log = logging.getLogger(__name__)
GROUP = "kbchat.connectors"


@cache
def connector_kinds() -> dict[str, type[Connector]]:
    kinds: dict[str, type[Connector]] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            cls = ep.load()
        except Exception:  # one broken plugin must not take the others (or the service) down
            log.exception("connector %s (%s) could not be loaded; its sources cannot sync", ep.name, ep.value)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            log.error(
                "connector %s (%s) is not a backend.connectors.base.Connector; ignored", ep.name, ep.value
            )
            continue
        kinds[ep.name] = cls
    return kinds


def connector(kind: str) -> type[Connector]:
    kinds = connector_kinds()
    if kind not in kinds:
        raise InvalidInput(
            f"unknown source kind {kind!r}; known: {', '.join(sorted(kinds)) or '(none installed)'}"
        )
    return kinds[kind]
