"""The encoder registry: fine-tuned versions, where their weights are and how they measured."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.models.base import Base, UTCDateTime, new_id, string_enum, utcnow

if TYPE_CHECKING:
    pass


class EncoderVersionStatus(enum.StrEnum):
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


class EncoderVersion(Base):
    """A fine-tuned encoder: where its weights are, what it was trained on and how it measured.

    A version belongs to the knowledge base it was trained for (``kb_id``); only that knowledge base
    can activate it, unless an operator ``shared`` it. Each knowledge base points at the version that
    serves it (``KnowledgeBase.encoder_version_id``). ``active`` marks the service-wide default that new
    knowledge bases start on (set by "activate for every knowledge base"; none: the base model).
    Versions are never deleted automatically, so a rollback is an activation of an earlier one.
    """

    __tablename__ = "encoder_versions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    base_model: Mapped[str] = mapped_column(String(500))
    """The model id it was trained from (an encoder's ``model_id``)."""
    path: Mapped[str] = mapped_column(String(2000))
    """A plain sentence-transformers folder: relative to the shared artifact directory
    (``KBCHAT_ARTIFACTS_DIR``) so every process finds it wherever the volume is mounted; absolute for
    versions registered before that setting existed."""
    model_id: Mapped[str | None] = mapped_column(String(500))
    """The identity of its vectors (names its collection). None: registered before this column, the
    id is derived from the folder as it was then (backend/encoder/sentence_transformer.model_id_of)."""
    status: Mapped[EncoderVersionStatus] = mapped_column(
        string_enum(EncoderVersionStatus), default=EncoderVersionStatus.READY, server_default="ready"
    )
    shared: Mapped[bool] = mapped_column(default=False, server_default=false())
    """An operator allowed knowledge bases other than its owner to activate it."""
    relevance_threshold: Mapped[float | None] = mapped_column(Float)
    """Dense cosine under which a passage counts as unrelated, measured on the held-out split when
    trained (None: the configured default, tuned for the base model)."""
    kb_id: Mapped[str | None] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="SET NULL"), index=True
    )
    data_hash: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    promoted: Mapped[bool] = mapped_column(default=False)
    """It beat the encoder that served its knowledge base when it was trained, on held-out pairs
    and the guard set."""
    active: Mapped[bool] = mapped_column(default=False)
    """The default for new knowledge bases (at most one)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
