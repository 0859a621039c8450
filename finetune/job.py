"""The "finetune" job behind ``POST /v1/knowledge-bases/{kb_id}/finetune``."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from backend.jobs.worker import JobContext, JobHandler
from backend.plugins import PluginHost
from finetune.data.pairs import TrainingPair
from finetune.runner import FinetuneRequest, run_finetune
from finetune.training import TrainConfig

_CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}


def request_from_payload(kb_id: str | None, payload: dict[str, Any]) -> FinetuneRequest:
    pairs = payload.get("pairs")
    config = {k: v for k, v in (payload.get("config") or {}).items() if k in _CONFIG_FIELDS}
    return FinetuneRequest(
        kb_id=kb_id,
        pairs=[
            TrainingPair(p["query"], p["positive"], tuple(p.get("negatives") or ()), p.get("doc_id"))
            for p in pairs
        ]
        if pairs
        else None,
        self_supervised=bool(payload.get("self_supervised")),
        harvest=bool(payload.get("harvest", True)),
        eval_fraction=float(payload.get("eval_fraction", 0.2)),
        config=TrainConfig(**config),
        activate=bool(payload.get("activate")),
        name=payload.get("name"),
    )


def make_finetune_handler(services: PluginHost) -> JobHandler:
    def handle(ctx: JobContext) -> None:
        request = request_from_payload(ctx.job.kb_id, ctx.job.payload)
        request.guard = services.settings.finetune.guard_dataset
        summary = run_finetune(services, request, on_progress=lambda stage, f: ctx.report(stage, f))
        summary.pop("loss_curve", None)  # kept with the version (GET /v1/encoders/{name}), not the job
        ctx.result = summary

    return handle
