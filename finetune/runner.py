"""One fine-tuning run, end to end: gather pairs, split, measure, mine, train, measure, register.

Used by the "finetune" job (``POST /v1/knowledge-bases/{kb_id}/finetune``) and by ``kbchat finetune``.
Training starts from the encoder that serves the knowledge base now (its own fine-tuned version, or
the base model) and works on a fresh copy loaded from disk; the encoder being served is never
touched. The result is a version owned by that knowledge base, which only it can activate (a
re-index of that knowledge base alone, ``rollout.py``). The version is registered as ``training``
when the run starts (so its name is taken at once) and removed again if the run fails.

The evaluation gate: a version is *promoted* only when its held-out nDCG@10 beats the encoder that
serves the knowledge base now, and (when a guard set is configured) its guard nDCG@10 drops by at
most ``GUARD_TOLERANCE``, so a domain gain never comes from forgetting general language. Its
relevance threshold is calibrated on the same held-out pairs (``evaluation.calibrated_threshold``).
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend.analytics.questions import DEFAULT_CONFIDENCE
from backend.catalog import encoders
from backend.catalog.names import contained, folder_name
from backend.db.models import EncoderVersion, EncoderVersionStatus, utcnow
from backend.encoder.sentence_transformer import pick_device, resolve_model_path
from backend.errors import Conflict, InvalidInput
from backend.plugins import PluginHost
from backend.retrieval.confidence import LEGACY_COSINE_CUT
from backend.text.embedded import embedding_text
from finetune.data.beir import load_beir_split
from finetune.data.cropping import cropped_pairs
from finetune.data.harvest import liked_pairs
from finetune.data.pairs import RetrievalSet, TrainingPair, data_hash, retrieval_set, split_by_document
from finetune.evaluation import calibrated_threshold, evaluate, positive_scores
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


def _kb_passages(services: PluginHost, kb_id: str) -> list[str]:
    vectors = services.encoders.snapshot(kb_id).vectors
    return [embedding_text(r.payload) for batch in vectors.scan(kb_id=kb_id, vectors=False) for r in batch]


def _gather(services: PluginHost, request: FinetuneRequest) -> _Data:
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


@dataclass(frozen=True)
class _Baseline:
    """The encoder a new version must beat: the one serving the knowledge base now."""

    path: str
    model_id: str
    name: str
    threshold: float
    confidence: float


def _baseline(services: PluginHost, kb_id: str | None) -> _Baseline:
    # The cosine floor it had: the operator's, else the gate of earlier releases (which the version's
    # own relevance threshold is carried over from).
    configured = services.settings.chat.min_score
    default_threshold = configured if configured is not None else LEGACY_COSINE_CUT
    snapshot = services.encoders.snapshot(kb_id) if kb_id else services.encoders.base
    if snapshot.version_id is None:
        path = resolve_model_path(services.settings.encoder.model)
    else:
        path = services.encoders.spec(snapshot.version_id).path
    threshold, confidence = snapshot.relevance_threshold, snapshot.confidence_threshold
    return _Baseline(
        path,
        snapshot.model_id,
        snapshot.name,
        threshold if threshold is not None else default_threshold,
        confidence if confidence is not None else DEFAULT_CONFIDENCE,
    )


def _register(services: PluginHost, request: FinetuneRequest) -> tuple[str, str]:
    """Take the version's name now (id, name), as ``training``: a duplicate fails before any work."""
    name = request.name or f"ft-{utcnow():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    _folder(services, name)  # a name that is no plain folder name fails before anything is written
    with services.sessions.begin() as session:
        if session.scalar(select(EncoderVersion.id).where(EncoderVersion.name == name)):
            raise Conflict(f"an encoder version named {name!r} exists; pick another name")
        version = EncoderVersion(
            name=name,
            base_model="",
            path="",
            kb_id=request.kb_id,
            data_hash="",
            status=EncoderVersionStatus.TRAINING,
        )
        session.add(version)
        try:
            session.flush()
        except IntegrityError as exc:  # a concurrent run took the name between the check and here
            raise Conflict(f"an encoder version named {name!r} exists; pick another name") from exc
        return version.id, name


def _unregister(services: PluginHost, version_id: str, folder: Path) -> None:
    with services.sessions.begin() as session:
        version = session.get(EncoderVersion, version_id)
        if version is not None and version.status is EncoderVersionStatus.TRAINING:
            session.delete(version)
    shutil.rmtree(folder, ignore_errors=True)


def run_finetune(
    services: PluginHost, request: FinetuneRequest, *, on_progress: Progress | None = None
) -> dict[str, Any]:
    config = request.config.validated()
    if request.activate and request.kb_id is None:
        raise InvalidInput("activation needs the knowledge base to activate the new version for")
    main_rank = not distributed() or torch.distributed.get_rank() == 0
    if not main_rank:
        return _train(services, request, config, on_progress, None)
    version_id, name = _register(services, request)
    try:
        return _train(services, request, config, on_progress, (version_id, name))
    except BaseException:
        _unregister(services, version_id, _folder(services, name))
        raise


def _folder(services: PluginHost, name: str) -> Path:
    """``<artifacts>/encoders/<name>``: a plain folder name, checked to stay inside the artifact folder."""
    return contained(services.settings.artifacts_path / "encoders", folder_name(name, what="version name"))


def _train(
    services: PluginHost,
    request: FinetuneRequest,
    config: TrainConfig,
    on_progress: Progress | None,
    registered: tuple[str, str] | None,
) -> dict[str, Any]:
    report = on_progress or (lambda stage, fraction: None)
    started = time.perf_counter()
    report("gathering pairs", 0.02)
    data = _gather(services, request)
    baseline = _baseline(services, request.kb_id)
    device = pick_device(services.settings.encoder.device)
    model = SentenceTransformer(baseline.path, device=device, local_files_only=True)
    guard = load_beir_split(request.guard, "test")[1] if request.guard else None

    report("measuring the encoder it would replace", 0.05)
    before = evaluate(model, data.held_out)
    scores_before = positive_scores(model, data.held_out)
    guard_before = evaluate(model, guard) if guard else None
    train_pairs = data.train
    if config.hard_negatives:
        report("mining hard negatives", 0.1)
        train_pairs = mine_hard_negatives(  # with the knowledge base's own encoder
            model,
            train_pairs,
            data.corpus,
            per_pair=config.hard_negatives,
            skip_top=config.skip_top,
            margin=config.margin,
        )
    report("training", 0.15)
    result = train(model, train_pairs, config, on_progress=lambda f: report("training", 0.15 + 0.7 * f))
    if registered is None:
        return {"rank": torch.distributed.get_rank()}  # rank 0 measures, saves and registers
    version_id, name = registered
    report("measuring the new encoder", 0.88)
    after = evaluate(model, data.held_out)
    scores_after = positive_scores(model, data.held_out)
    threshold = calibrated_threshold(scores_before, scores_after, baseline.threshold)
    confidence = calibrated_threshold(scores_before, scores_after, baseline.confidence)
    guard_after = evaluate(model, guard) if guard else None
    promoted = after["ndcg@10"] > before["ndcg@10"] and (
        guard_before is None
        or guard_after is None
        or guard_after["ndcg@10"] >= guard_before["ndcg@10"] - GUARD_TOLERANCE
    )

    folder = _folder(services, name)
    model_dir = folder / "model"
    model.save(str(model_dir))
    summary: dict[str, Any] = {
        "name": name,
        "mode": data.mode,
        "base": baseline.model_id,
        "replaces": baseline.name,
        "train_pairs": len(train_pairs),
        "eval_queries": len(data.held_out.queries),
        "before": before,
        "after": after,
        "guard_before": guard_before,
        "guard_after": guard_after,
        "promoted": promoted,
        "relevance_threshold": {"before": baseline.threshold, "after": threshold},
        "confidence_threshold": {"before": baseline.confidence, "after": confidence},
        "loss_curve": result.losses,
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "device": result.device,
        "precision": result.precision,
        "config": config.as_dict(),
    }
    _, chart = write_report(folder, summary)
    artifacts = services.settings.artifacts_path.resolve()
    with services.sessions.begin() as session:
        version = session.get(EncoderVersion, version_id)
        if version is None:
            raise Conflict(f"encoder version {name!r} was deleted while it trained")
        version.base_model = baseline.model_id
        version.path = str(model_dir.relative_to(artifacts))  # found by every process that shares it
        version.model_id = f"{name}@{version_id[:8]}"
        version.relevance_threshold = threshold
        version.data_hash = data_hash(train_pairs)
        version.params = {
            "config": config.as_dict(),
            "mode": data.mode,
            "dataset": str(request.dataset or ""),
        }
        version.metrics = {
            k: summary[k] for k in ("before", "after", "guard_before", "guard_after", "loss_curve")
        } | {
            "chart": str(chart.relative_to(artifacts)),
            "train_seconds": summary["train_seconds"],
            "relevance_threshold": summary["relevance_threshold"],
            "confidence_threshold": confidence,
        }
        version.promoted = promoted
        version.status = EncoderVersionStatus.READY
        summary["version_id"] = version.id
        if promoted and request.activate and request.kb_id is not None:
            summary["activation_job_id"] = encoders.request_activation(
                session, version.id, kb_id=request.kb_id, max_attempts=services.settings.ingest.max_attempts
            ).id
    if summary.get("activation_job_id"):
        services.wake_workers()
    summary["model_dir"] = str(model_dir)
    summary["chart"] = str(chart)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    log.info(
        "fine-tuned %s for kb %s (%s, %d pairs): nDCG@10 %.4f -> %.4f, threshold %.3f -> %s, %s",
        name,
        request.kb_id or "-",
        data.mode,
        len(train_pairs),
        before["ndcg@10"],
        after["ndcg@10"],
        baseline.threshold,
        threshold,
        "promoted" if promoted else "not promoted",
    )
    return summary
