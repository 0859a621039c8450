"""The one owner of "which encoder serves this knowledge base": knowledge base → :class:`EncoderSnapshot`.

Search, chat, ingestion, tuning, analytics and fine-tuning all ask here, and nothing else keeps a
copy to swap. The mapping lives in the database (``knowledge_bases.encoder_version_id``), so every
process (API replicas, workers) follows it: this process learns of its own switches at once
(:meth:`assign`) and of other processes' switches at its next :meth:`refresh` (API processes every
``KBCHAT_ENCODER__FOLLOW_INTERVAL_S``, workers before each batch); the old points outlive that
delay by the activation's grace period. A knowledge base not seen yet is read on first use.

Encoders load on first use and are bounded by :class:`~backend.serving.loaded.LoadedEncoders`; the
base model is loaded at start and stays. Collections are opened once per encoder and kept.

A collection is named by its encoder *and* its keyword analysis (:func:`backend.keywords.index_id`),
and so is a knowledge base's place (``knowledge_bases.keywords``): a knowledge base indexed with an
older analysis is served, with that analysis, from its old collection until an activation has
rebuilt its sparse vectors in the current one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import EncoderVersion, KnowledgeBase
from backend.encoder.base import Embedder
from backend.errors import NotFound
from backend.keywords import CURRENT, LEGACY, index_id, keyword_encoder
from backend.keywords.encoder import VERSIONS, counts_idf_per_kb
from backend.serving.loaded import LoadedEncoders
from backend.serving.snapshot import BASE, EncoderSnapshot
from backend.vectorstore.base import VectorStore, collection_name

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """What loading a version needs; immutable once the version is trained."""

    id: str
    name: str
    path: str
    """Resolved for this process (the registry stores it relative to the shared artifact folder)."""
    model_id: str
    relevance_threshold: float | None
    confidence_threshold: float | None


LoadEncoder = Callable[[VersionSpec], Embedder]
Place = tuple[str | None, str]
"""Where a knowledge base is served from: (encoder version id or None for the base, keyword analysis)."""
ModelIdOf = Callable[[str], str]


class EncoderRouter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        base: Embedder,
        base_vectors: VectorStore,
        load: LoadEncoder,
        artifacts: Path,
        legacy_model_id: ModelIdOf,
        max_loaded: int = 4,
    ) -> None:
        """``load`` builds an encoder for a version; ``legacy_model_id`` finds the id of a version
        registered before ids were stored (from its folder, without loading it)."""
        self.sessions = sessions
        self._base = EncoderSnapshot(None, BASE, base, base_vectors)
        self._load = load
        self._artifacts = artifacts
        self._legacy_model_id = legacy_model_id
        self.loaded: LoadedEncoders[Embedder] = LoadedEncoders(max_loaded=max_loaded)
        self._lock = threading.Lock()
        self._kbs: dict[str, Place] = {}
        """Knowledge base → (encoder version id, keyword analysis) serving it."""
        self._assigned: dict[str, int] = {}
        """Knowledge base → the :meth:`assign` count when this process last switched it: a refresh
        that read the database before that switch committed must not undo it."""
        self._assigns = 0
        self._specs: dict[str, VersionSpec] = {}
        self._stores: dict[str, VectorStore] = {base_vectors.collection: base_vectors}

    # -- reading ----------------------------------------------------------------------------
    @property
    def base(self) -> EncoderSnapshot:
        return self._base

    def snapshot(self, kb_id: str) -> EncoderSnapshot:
        """The encoder and collection serving ``kb_id`` now; take it once per operation."""
        with self._lock:
            place = self._kbs.get(kb_id)
        if place is None:
            with self.sessions() as session:
                row = session.execute(
                    select(KnowledgeBase.encoder_version_id, KnowledgeBase.keywords).where(
                        KnowledgeBase.id == kb_id
                    )
                ).first()
            if row is None:  # an unknown knowledge base is not remembered: it may be created later
                return self._base
            with self._lock:
                place = self._kbs.setdefault(kb_id, (row[0], row[1] or LEGACY))
        return self.version(*place)

    def version(self, version_id: str | None, keywords: str = CURRENT) -> EncoderSnapshot:
        """The snapshot of a version (None: base) with the collection of ``keywords``' analysis, loading
        its encoder if it is not in memory."""
        if version_id is None:
            if keywords == CURRENT:
                return self._base
            base = self._base.embedder
            return EncoderSnapshot(
                None,
                BASE,
                base,
                self.store(index_id(base.model_id, keywords), base.dimension),
                keywords=keyword_encoder(keywords),
            )
        spec = self.spec(version_id)
        embedder = self.loaded.get(spec.id, lambda: self._load(spec))
        return EncoderSnapshot(
            spec.id,
            spec.name,
            embedder,
            self.store(index_id(spec.model_id, keywords), embedder.dimension),
            spec.relevance_threshold,
            spec.confidence_threshold,
            keyword_encoder(keywords),
        )

    def spec(self, version_id: str) -> VersionSpec:
        with self._lock:
            spec = self._specs.get(version_id)
        if spec is not None:
            return spec
        with self.sessions() as session:
            version = session.get(EncoderVersion, version_id)
            if version is None:
                raise NotFound(f"encoder version {version_id} does not exist; GET /v1/encoders lists them")
            path = self.resolve_path(version.path)
            spec = VersionSpec(
                version.id,
                version.name,
                path,
                version.model_id or self._legacy_model_id(path),
                version.relevance_threshold,
                (version.metrics or {}).get("confidence_threshold"),
            )
        with self._lock:
            self._specs[version_id] = spec
        return spec

    def resolve_path(self, stored: str) -> str:
        """A registry path for this process: relative ones live in the shared artifact folder."""
        path = Path(stored)
        return str(path if path.is_absolute() else self._artifacts / path)

    def store(self, encoder_id: str, dimension: int, *, create: bool = True) -> VectorStore:
        """The collection of ``encoder_id`` (an :func:`~backend.keywords.index_id`), opened once (and
        created if missing, unless not ``create``). On every search of a knowledge base off the base
        collection: a dictionary look-up once it is open."""
        name = collection_name(self._base.vectors.prefix, encoder_id)
        with self._lock:
            existing = self._stores.get(name)
        if existing is not None:
            return existing
        opened = self._base.vectors.sibling(
            encoder_id=encoder_id, dimension=dimension, kb_idf=counts_idf_per_kb(encoder_id)
        )
        with self._lock:
            existing = self._stores.setdefault(name, opened)
        if existing is not opened:  # another thread opened it meanwhile
            opened.close()
            return existing
        if create:
            opened.prepare()
        return opened

    def version_model_ids(self) -> list[str]:
        """The model id of every registered version that has weights (not one still training),
        without loading any: they name the collections versions write to."""
        with self.sessions() as session:
            versions = session.execute(
                select(EncoderVersion.model_id, EncoderVersion.path).where(EncoderVersion.path != "")
            ).all()
        return [model_id or self._legacy_model_id(self.resolve_path(path)) for model_id, path in versions]

    def registered_collections(self) -> dict[str, VectorStore]:
        """Every existing collection of the base model and of registered versions, by name, without
        loading any encoder: what a sweep looks through for a knowledge base's stale points."""
        base = self._base.vectors
        out = {base.collection: base}
        for model_id in (self._base.model_id, *self.version_model_ids()):
            for keywords in VERSIONS:
                index = index_id(model_id, keywords)
                name = collection_name(base.prefix, index)
                if name not in out and base.collection_exists(name):
                    out[name] = self.store(index, base.dimension, create=False)
        return out

    def collection_of(self, version_id: str | None, keywords: str = CURRENT) -> str:
        """The collection a version's vectors live in with ``keywords``' analysis, without loading it."""
        model_id = self._base.model_id if version_id is None else self.spec(version_id).model_id
        return collection_name(self._base.vectors.prefix, index_id(model_id, keywords))

    def legacy_collections(self) -> set[str]:
        """The collections of the base model and of registered versions in every older keyword analysis:
        where the base alias may still point after an upgrade."""
        prefix = self._base.vectors.prefix
        models = (self._base.model_id, *self.version_model_ids())
        return {collection_name(prefix, index_id(m, k)) for m in models for k in VERSIONS if k != CURRENT}

    def drop(self, encoder_id: str) -> bool:
        """Delete ``encoder_id``'s collection if it exists (never the base model's) and forget the open
        store (a later use prepares it again). True when there was one to delete."""
        base = self._base.vectors
        name = collection_name(base.prefix, encoder_id)
        if name == base.collection or not base.collection_exists(name):
            return False
        store = self.store(encoder_id, base.dimension, create=False)
        store.drop()
        with self._lock:
            self._stores.pop(name, None)
        store.close()
        return True

    def stores(self) -> list[VectorStore]:
        """Every collection this process has opened (the base one first)."""
        with self._lock:
            return list(self._stores.values())

    def _in_use(self) -> dict[str, EncoderSnapshot]:
        """Every knowledge base → the snapshot serving it, encoders loaded as needed (after a refresh)."""
        self.refresh()
        with self._lock:
            kb_ids = list(self._kbs)
        return {kb_id: self.snapshot(kb_id) for kb_id in kb_ids}

    def collections_in_use(self) -> tuple[list[VectorStore], Callable[[str], str]]:
        """Every collection some knowledge base uses (encoders loaded as needed), and knowledge base →
        its collection's name: what ``kbchat doctor`` compares with the database."""
        homes = {kb_id: s.vectors.collection for kb_id, s in self._in_use().items()}
        base = self._base.vectors.collection
        return self.stores(), lambda kb_id: homes.get(kb_id, base)

    def collection_models(self) -> dict[str, str]:
        """Each collection some knowledge base uses → the model id of the encoder that fills it (what
        its chunks' sentence vectors must have been made by: ``kbchat doctor``)."""
        snapshots = [self._base, *self._in_use().values()]
        return {s.vectors.collection: s.embedder.model_id for s in snapshots}

    def stores_of(self, kb_id: str) -> list[VectorStore]:
        """Collections that may hold ``kb_id``'s points: its encoder's first, then every other one this
        process has open (the one it is leaving or moving to while an activation runs). For deletes."""
        own = self.snapshot(kb_id).vectors
        return [own, *(s for s in self.stores() if s is not own)]

    # -- following switches ---------------------------------------------------------------------
    def assign(self, kb_id: str, version_id: str | None, keywords: str = CURRENT) -> None:
        """This process switched ``kb_id`` (after committing it): use the new encoder from now on."""
        with self._lock:
            self._assigns += 1
            self._kbs[kb_id] = (version_id, keywords)
            self._assigned[kb_id] = self._assigns

    def refresh(self) -> list[str]:
        """Re-read every knowledge base's encoder; returns the ones that changed since last time."""
        with self._lock:
            started = self._assigns
        with self.sessions() as session:
            rows: dict[str, Place] = {
                kb_id: (version_id, keywords or LEGACY)
                for kb_id, version_id, keywords in session.execute(
                    select(KnowledgeBase.id, KnowledgeBase.encoder_version_id, KnowledgeBase.keywords)
                )
            }
        with self._lock:
            for kb_id, assigned in self._assigned.items():
                if assigned > started and kb_id in rows:  # switched here after the read began
                    rows[kb_id] = self._kbs[kb_id]
            changed = [kb for kb, version in rows.items() if kb in self._kbs and self._kbs[kb] != version]
            self._kbs = dict(rows)
        for kb_id in changed:
            log.info("knowledge base %s switched encoders elsewhere; following", kb_id)
        return changed

    def forget(self, version_id: str) -> None:
        """A deleted version: unload it and drop its cached description."""
        self.loaded.discard(version_id)
        with self._lock:
            self._specs.pop(version_id, None)

    def close(self) -> None:
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()
