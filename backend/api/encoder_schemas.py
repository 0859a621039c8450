"""Bodies of the fine-tuning and encoder-registry endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.catalog.pairs import TrainingPairIn
from backend.keywords import CURRENT


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TrainingOptions(_In):
    """Bounds chosen so a typo cannot start a week-long job; see finetune/training.py for meanings.
    The defaults are kbchat's recipe (finetune.training.RECIPE)."""

    loss: Literal["mnrl", "cached", "moco"] = "moco"
    epochs: float = Field(default=2.0, gt=0, le=50)
    batch_size: int = Field(default=32, ge=2, le=65536)
    learning_rate: float = Field(default=1e-4, gt=0, le=1e-2)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    scale: float = Field(default=20.0, gt=0, le=100)
    symmetric: bool = False
    mini_batch_size: int = Field(default=16, ge=1, le=4096)
    queue_size: int = Field(default=2048, ge=1, le=65536)
    momentum: float = Field(default=0.999, ge=0, lt=1)
    hard_negatives: int = Field(default=0, ge=0, le=8)
    skip_top: int = Field(default=3, ge=0, le=100)
    margin: float = Field(default=0.95, gt=0, le=1)
    seed: int = 0


class FinetuneCreate(_In):
    pairs: list[TrainingPairIn] | None = Field(
        default=None,
        max_length=50_000,
        description="Question–passage pairs. Empty: pairs from liked chats, else self-supervised "
        "on the knowledge base's own text.",
    )
    self_supervised: bool = Field(
        default=False, description="Train on crops of the knowledge base's own passages."
    )
    harvest: bool = Field(default=True, description="Add pairs from chat answers readers liked.")
    eval_fraction: float = Field(default=0.2, gt=0, lt=1, description="Share of documents held out.")
    options: TrainingOptions = Field(default_factory=TrainingOptions)
    activate: bool = Field(default=False, description="Activate the new version if it beats the active one.")
    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")

    @field_validator("name")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        if value is not None and set(value) == {"."}:
            raise ValueError("a version name cannot be dots alone: it names a folder")
        return value


class EncoderPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    status: str = Field(description="training, ready or failed.")
    base_model: str
    path: str = Field(description="Relative to the shared artifact folder (KBCHAT_ARTIFACTS_DIR).")
    model_id: str | None
    kb_id: str | None = Field(description="The knowledge base it was trained for, which owns it.")
    shared: bool = Field(description="Other knowledge bases may activate it too.")
    relevance_threshold: float | None = Field(
        description="Dense cosine under which a passage counts as unrelated, calibrated on the held-out "
        "pairs when it was trained (empty: the configured KBCHAT_CHAT__MIN_SCORE)."
    )
    data_hash: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    promoted: bool
    active: bool = Field(description="The default encoder for new knowledge bases.")
    knowledge_bases: int = Field(default=0, description="Knowledge bases it serves now.")
    created_at: datetime
    activated_at: datetime | None


class EncodersPublic(BaseModel):
    data: list[EncoderPublic]
    active: str = Field(
        description="The default for new knowledge bases: a version's name, or 'base' for the configured "
        "model. Each knowledge base may be served by another (GET /v1/knowledge-bases/{id})."
    )
    base_knowledge_bases: int = Field(default=0, description="Knowledge bases served by the base model.")


class EncoderPatch(_In):
    shared: bool = Field(description="Let knowledge bases other than its owner activate it.")


class EncoderActivate(_In):
    version: str = Field(
        min_length=1, max_length=100, description="A version's name or id, or 'base' to roll back."
    )


class KbEncoderPublic(BaseModel):
    """The encoder that serves a knowledge base."""

    version: str = Field(description="The version's name, or 'base' (the configured model).")
    version_id: str | None = None
    keywords: str = Field(
        default=CURRENT,
        description=(
            "The keyword analysis its sparse vectors were made with: 'ml3' (per language, IDF counted "
            "per knowledge base), or 'ml2' (IDF over every knowledge base on the encoder) or 'en1' "
            "(English only), from earlier releases, until the re-index queued at start finishes."
        ),
    )
