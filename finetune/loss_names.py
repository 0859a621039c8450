"""The losses a training run can use, by name: imported by the CLI without loading torch."""

from __future__ import annotations

from typing import Literal

LossName = Literal["mnrl", "cached", "moco"]
"""mnrl: in-batch negatives (InfoNCE); cached: the same with gradient caching, for batches larger than
memory; moco: in-batch plus a momentum encoder's queue of earlier batches (finetune/losses/moco.py)."""
