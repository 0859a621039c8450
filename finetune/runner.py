"""One fine-tuning run, end to end: gather pairs, split, measure, mine, train, measure, register.

Used by the "finetune" job (``POST /v1/knowledge-bases/{kb_id}/finetune``) and by ``kbchat finetune``.
The encoder being served is never touched: training works on a fresh copy loaded from disk, and the
result only replaces it through an activation (a re-index with an alias switch, ``rollout.py``).

The evaluation gate: a version is *promoted* only when its held-out nDCG@10 beats the encoder that
is active now, and (when a guard set is configured) its guard nDCG@10 drops by at most
``GUARD_TOLERANCE``, so a domain gain never comes from forgetting general language.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sqlalchemy import select

from backend.catalog import encoders
from backend.db.models import EncoderVersion, utcnow
from backend.encoder.sentence_transformer import pick_device, resolve_model_path
from backend.errors import Conflict, InvalidInput
from backend.services import Services
from backend.vectorstore.base import embedding_text
from finetune.data.beir import load_beir_split
from finetune.data.cropping import cropped_pairs
from finetune.data.harvest import liked_pairs
from finetune.data.pairs import RetrievalSet, TrainingPair, data_hash, retrieval_set, split_by_document
from finetune.evaluation import evaluate
from finetune.mining import mine_hard_negatives
from finetune.report import write_report
from finetune.training import TrainConfig, distributed, train

log = logging.getLogger(__name__)
GUARD_TOLERANCE = 0.01
MIN_PAIRS = 8
Progress = Callable[[str, float], None]


@dataclass
class FinetuneRequest:
    kb_id: str | None = None
    """Train for this knowledge base: its passages are the corpus, its liked chats add pairs."""
    pairs: list[TrainingPair] | None = None
    dataset: Path | None = None
    """A BEIR folder: train on ``qrels/train.tsv``, measure on ``qrels/test.tsv``."""
    self_supervised: bool = False
    """Train on crops of the knowledge base's own passages (also chosen when there are no pairs)."""
    harvest: bool = True
    eval_fraction: float = 0.2
    guard: Path | None = None
    config: TrainConfig = field(default_factory=TrainConfig)
    activate: bool = False
    """Activate the new version (a background re-index) when it is promoted."""
    name: str | None = None


@dataclass
class _Data:
    mode: str
    train: list[TrainingPair]
    held_out: RetrievalSet
    corpus: list[str]


def _kb_passages(services: Services, kb_id: str) -> list[str]:
    return [
        embedding_text(r.payload)
        for batch in services.vectors.scan(kb_id=kb_id, vectors=False)
        for r in batch
    ]


def _gather(services: Services, request: FinetuneRequest) -> _Data:
    if request.dataset is not None:
        train_pairs, _ = load_beir_split(request.dataset, "train")
        _, held_out = load_beir_split(request.dataset, "test")
        return _Data("dataset", train_pairs, held_out, list(held_out.corpus.values()))
    if request.kb_id is None:
        raise InvalidInput("say what to train on: a knowledge base, or a BEIR dataset folder")
    passages = _kb_passages(services, request.kb_id)
    pairs = list(request.pairs or [])
    if request.harvest and not request.self_supervised:
        with services.sessions() as session:
            pairs += liked_pairs(session, request.kb_id)
    mode = "pairs"
    if request.self_supervised or not pairs:
        if len(passages) < MIN_PAIRS:
            raise InvalidInput(
                f"the knowledge base has {len(passages)} passages and no pairs; upload documents or "
                "question–passage pairs before fine-tuning"
            )
        pairs, mode = cropped_pairs(passages, seed=request.config.seed), "self-supervised"
    if len(pairs) < MIN_PAIRS:
        raise InvalidInput(
            f"{len(pairs)} pairs are too few to train and measure on; give at least {MIN_PAIRS}"
        )
    train_pairs, held = split_by_document(
        pairs, eval_fraction=request.eval_fraction, seed=request.config.seed
    )
    corpus = {f"p{i}": text for i, text in enumerate(dict.fromkeys(passages))}
    return _Data(mode, train_pairs, retrieval_set(held, corpus), list(corpus.values()))


def _active_model_path(services: Services) -> tuple[str, str]:
    """(path, model id) of the encoder that is active now: the baseline a new version must beat."""
    with services.sessions() as session:
        active = encoders.active(session)
        if active is not None:
            return active.path, active.name
    return resolve_model_path(services.settings.encoder.model), services.embedder.model_id


def run_finetune(
    services: Services, request: FinetuneRequest, *, on_progress: Progress | None = None
) -> dict[str, Any]:
    report = on_progress or (lambda stage, fraction: None)
    started = time.perf_counter()
    config = request.config.validated()
    if request.name is not None:
        with services.sessions() as session:
            if session.scalar(select(EncoderVersion.id).where(EncoderVersion.name == request.name)):
                raise Conflict(f"an encoder version named {request.name!r} exists; pick another name")
    report("gathering pairs", 0.02)
    data = _gather(services, request)
    base_path, base_id = _active_model_path(services)
    device = pick_device(services.settings.encoder.device)
    model = SentenceTransformer(base_path, device=device, local_files_only=True)
    guard = load_beir_split(request.guard, "test")[1] if request.guard else None

    report("measuring the active encoder", 0.05)
    before = evaluate(model, data.held_out)
    guard_before = evaluate(model, guard) if guard else None
    train_pairs = data.train
    if config.hard_negatives:
        report("mining hard negatives", 0.1)
        train_pairs = mine_hard_negatives(
            model,
            train_pairs,
            data.corpus,
            per_pair=config.hard_negatives,
            skip_top=config.skip_top,
            margin=config.margin,
        )
    report("training", 0.15)
    result = train(model, train_pairs, config, on_progress=lambda f: report("training", 0.15 + 0.7 * f))
    if distributed() and torch.distributed.get_rank() != 0:
        return {"rank": torch.distributed.get_rank()}  # rank 0 measures, saves and registers
    report("measuring the new encoder", 0.88)
    after = evaluate(model, data.held_out)
    guard_after = evaluate(model, guard) if guard else None
    promoted = after["ndcg@10"] > before["ndcg@10"] and (
        guard_before is None
        or guard_after is None
        or guard_after["ndcg@10"] >= guard_before["ndcg@10"] - GUARD_TOLERANCE
    )

    name = request.name or f"ft-{utcnow():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    folder = services.settings.data_dir / "encoders" / name
    model_dir = folder / "model"
    model.save(str(model_dir))
    summary: dict[str, Any] = {
        "name": name,
        "mode": data.mode,
        "base": base_id,
        "train_pairs": len(train_pairs),
        "eval_queries": len(data.held_out.queries),
        "before": before,
        "after": after,
        "guard_before": guard_before,
        "guard_after": guard_after,
        "promoted": promoted,
        "loss_curve": result.losses,
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "device": result.device,
        "precision": result.precision,
        "config": config.as_dict(),
    }
    _, chart = write_report(folder, summary)
    with services.sessions.begin() as session:
        version = EncoderVersion(
            name=name,
            base_model=base_id,
            path=str(model_dir.resolve()),
            kb_id=request.kb_id,
            data_hash=data_hash(train_pairs),
            params={"config": config.as_dict(), "mode": data.mode, "dataset": str(request.dataset or "")},
            metrics={k: summary[k] for k in ("before", "after", "guard_before", "guard_after", "loss_curve")}
            | {"chart": str(chart.resolve()), "train_seconds": summary["train_seconds"]},
            promoted=promoted,
        )
        session.add(version)
        session.flush()
        summary["version_id"] = version.id
        if promoted and request.activate:
            summary["activation_job_id"] = encoders.request_activation(
                session, version.id, max_attempts=services.settings.ingest.max_attempts
            ).id
    if summary.get("activation_job_id"):
        services.wake_workers()
    summary["model_dir"] = str(model_dir.resolve())
    summary["chart"] = str(chart.resolve())
    summary["seconds"] = round(time.perf_counter() - started, 1)
    log.info(
        "fine-tuned %s (%s, %d pairs): nDCG@10 %.4f -> %.4f, %s",
        name,
        data.mode,
        len(train_pairs),
        before["ndcg@10"],
        after["ndcg@10"],
        "promoted" if promoted else "not promoted",
    )
    return summary
