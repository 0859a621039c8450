"""The alias ``<prefix>_chunks``: which collection the base model's vectors are in, for both engines.

Each knowledge base's encoder is recorded in the database, so the alias no longer routes anything. It
guards one mistake: changing ``KBCHAT_ENCODER__MODEL`` while knowledge bases on the base model have
their points in the old model's collection, which would make their search silently empty.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from backend.errors import Conflict
from backend.vectorstore.base import VectorStore

log = logging.getLogger(__name__)


def ensure_base_alias(store: VectorStore, *, adopt: Collection[str] = ()) -> None:
    """Create ``store``'s collection and point the alias at it if the alias is missing; refuse (409)
    when it names another model's collection, unless that is one of ``adopt``: a registered version's,
    where releases with one service-wide encoder left it."""
    target = store.active_collection()
    if target is not None and target != store.collection and target not in adopt:
        raise Conflict(
            f"the base collection {target!r} was built by another encoder than the configured "
            f"{store.encoder_id!r}. Set KBCHAT_ENCODER__MODEL back; knowledge bases on the base model "
            "keep their points there."
        )
    store.prepare()
    if target != store.collection:
        store.make_active()
        if target is not None:
            log.info(
                "alias %s named %s (a registered version's); it now names the base model's %s",
                store.alias,
                target,
                store.collection,
            )
