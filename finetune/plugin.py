"""Registers fine-tuning with the service: the "finetune", "activate_encoder" and sweep jobs, the CLI."""

from __future__ import annotations

from backend.catalog.encoders import ACTIVATE_JOB, FINETUNE_JOB, SWEEP_JOB
from backend.plugins import PluginRegistry


def register(registry: PluginRegistry) -> None:
    from finetune.cli import extend_cli
    from finetune.job import make_finetune_handler
    from finetune.rollout import make_activate_handler, make_sweep_handler

    registry.add_job_handler(FINETUNE_JOB, make_finetune_handler)
    registry.add_job_handler(ACTIVATE_JOB, make_activate_handler)
    registry.add_job_handler(SWEEP_JOB, make_sweep_handler)
    registry.add_cli(extend_cli)
