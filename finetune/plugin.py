"""Registers fine-tuning with the service: the "finetune", "activate_encoder" and sweep jobs, the CLI."""

from __future__ import annotations

from backend.jobs.kinds import ACTIVATE_JOB, FINETUNE_JOB, SWEEP_JOB
from backend.plugins import PluginRegistry, deferred


def register(registry: PluginRegistry) -> None:
    from finetune.cli import extend_cli

    registry.add_job_handler(FINETUNE_JOB, deferred("finetune.job", "make_finetune_handler"))
    registry.add_job_handler(ACTIVATE_JOB, deferred("finetune.rollout", "make_activate_handler"))
    registry.add_job_handler(SWEEP_JOB, deferred("finetune.rollout", "make_sweep_handler"))
    registry.add_cli(extend_cli)
