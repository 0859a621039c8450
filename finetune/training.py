"""Train an encoder on pairs with the sentence-transformers trainer.

Batches come from ``BatchSamplers.NO_DUPLICATES``: a passage never appears twice in one batch, so
no pair is pushed away from its own answer by a duplicate acting as an in-batch negative.
Losses: ``mnrl`` (in-batch negatives, InfoNCE), ``cached`` (the same with GradCache: large batches in
small memory), ``moco`` (in-batch plus a momentum queue, :mod:`finetune.losses.moco`). Mined hard
negatives add columns to any of them.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer import losses
from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from backend.encoder.threads import use_threads
from backend.errors import InvalidInput
from finetune.data.pairs import TrainingPair
from finetune.loss_names import LossName
from finetune.losses import MoCoMultipleNegativesRankingLoss

log = logging.getLogger(__name__)

Direction = Literal["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"]


@dataclass(frozen=True)
class TrainConfig:
    loss: LossName = "mnrl"
    epochs: float = 2.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    scheduler: str = "linear"
    scale: float = 20.0
    """Inverse temperature: 20 = temperature 0.05."""
    symmetric: bool = False
    """Add the passage → query direction (symmetric InfoNCE)."""
    mini_batch_size: int = 16
    """cached: rows per forward pass; memory depends on this, not on ``batch_size``."""
    queue_size: int = 2048
    momentum: float = 0.999
    hard_negatives: int = 0
    """Mined negatives per pair (0: in-batch only)."""
    skip_top: int = 3
    margin: float = 0.95
    seed: int = 0
    max_steps: int = -1

    def validated(self) -> TrainConfig:
        if self.loss not in ("mnrl", "cached", "moco"):
            raise InvalidInput(f"loss must be mnrl, cached or moco, not {self.loss!r}")
        if self.batch_size < 2:
            raise InvalidInput("batch_size must be at least 2: in-batch negatives need company")
        if not 0 < self.learning_rate < 1:
            raise InvalidInput(f"learning_rate {self.learning_rate} is out of range (try 2e-5 to 1e-4)")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise InvalidInput("epochs must be positive")
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


RECIPE = TrainConfig(loss="moco", learning_rate=1e-4, hard_negatives=0)
"""kbchat's default recipe (the API's and the CLI's defaults), chosen on manpages and python-faq in
bench/finetune_recipes.py: the learning rate brought the gain over the plain reference run there;
mined negatives cost 2.3x the time and measured no better, so they are opt-in."""


@dataclass
class TrainResult:
    model: SentenceTransformer
    losses: list[tuple[int, float]] = field(default_factory=list)
    """(step, training loss) as logged."""
    steps: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"


class _Recorder(TrainerCallback):
    def __init__(self, result: TrainResult, on_progress: Callable[[float], None] | None) -> None:
        self.result, self.on_progress = result, on_progress

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any
    ) -> None:
        if logs and "loss" in logs:
            self.result.losses.append((int(state.global_step), float(logs["loss"])))
            log.info("step %d/%d: loss %.4f", state.global_step, state.max_steps, float(logs["loss"]))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.on_progress is not None and state.max_steps:
            self.on_progress(state.global_step / state.max_steps)


def distributed() -> bool:
    """True under ``torchrun`` / ``accelerate launch`` with several processes (one per GPU)."""
    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and (torch.distributed.get_world_size() > 1)
    )


def make_loss(model: SentenceTransformer, config: TrainConfig) -> Any:
    directions: tuple[Direction, ...] = (
        ("query_to_doc", "doc_to_query") if config.symmetric else ("query_to_doc",)
    )
    partition: Literal["per_direction", "joint"] = "per_direction" if config.symmetric else "joint"
    gather = distributed()  # every GPU's passages become negatives for every query
    if config.loss == "cached":
        return losses.CachedMultipleNegativesRankingLoss(
            model,
            scale=config.scale,
            mini_batch_size=config.mini_batch_size,
            directions=directions,
            partition_mode=partition,
            gather_across_devices=gather,
        )
    if config.loss == "moco":
        return MoCoMultipleNegativesRankingLoss(
            model, scale=config.scale, queue_size=config.queue_size, momentum=config.momentum
        )
    return losses.MultipleNegativesRankingLoss(
        model,
        scale=config.scale,
        directions=directions,
        partition_mode=partition,
        gather_across_devices=gather,
    )


def _dataset(pairs: Sequence[TrainingPair], negatives: int) -> Dataset:
    columns: dict[str, list[str]] = {
        "anchor": [p.query for p in pairs],
        "positive": [p.positive for p in pairs],
    }
    if negatives:
        usable = [p for p in pairs if len(p.negatives) >= negatives]
        if len(usable) < len(pairs):
            log.warning(
                "%d pairs have fewer than %d negatives and are left out", len(pairs) - len(usable), negatives
            )
        columns = {"anchor": [p.query for p in usable], "positive": [p.positive for p in usable]}
        for n in range(negatives):
            columns[f"negative_{n + 1}"] = [p.negatives[n] for p in usable]
    return Dataset.from_dict(columns)


def precision_for(device: str) -> str:
    """bf16 where the GPU supports it, fp16 on older GPUs, fp32 on the CPU."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def train(
    model: SentenceTransformer,
    pairs: Sequence[TrainingPair],
    config: TrainConfig,
    *,
    on_progress: Callable[[float], None] | None = None,
) -> TrainResult:
    """Fine-tune ``model`` in place on ``pairs``; returns it with the loss curve."""
    config = config.validated()
    if len(pairs) < config.batch_size:
        raise InvalidInput(
            f"{len(pairs)} training pairs is fewer than one batch of {config.batch_size}; "
            "add pairs or lower the batch size"
        )
    use_threads()  # every core, whatever this thread encoded questions on before
    dataset = _dataset(pairs, config.hard_negatives)
    device = str(model.device)
    result = TrainResult(model=model, device=device, precision=precision_for(device))
    with tempfile.TemporaryDirectory(prefix="kbchat-train-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=config.epochs,
            max_steps=config.max_steps,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of all steps (transformers v5)
            lr_scheduler_type=config.scheduler,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            bf16=result.precision == "bf16",
            fp16=result.precision == "fp16",
            logging_steps=max(1, len(dataset) // config.batch_size // 10),
            save_strategy="no",
            report_to="none",
            seed=config.seed,
            disable_tqdm=True,
            dataloader_pin_memory=device.startswith("cuda"),
            dataloader_drop_last=True,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            loss=make_loss(model, config),
            callbacks=[_Recorder(result, on_progress)],
        )
        # With tqdm off, transformers prints every log dict to stdout; ours go to the log (and a
        # CLI's --json output must stay pure JSON).
        trainer.remove_callback(PrinterCallback)
        started = time.perf_counter()
        trainer.train()
        result.seconds = time.perf_counter() - started
        result.steps = int(trainer.state.global_step)
    if result.steps == 0:
        raise InvalidInput(
            f"no training step could run: {len(dataset)} usable pairs did not fill one batch of "
            f"{config.batch_size} without repeating a text (mined negatives count too). Add pairs, "
            "lower the batch size, or set hard_negatives to 0"
        )
    log.info(
        "trained %d steps (%s loss, batch %d) in %.0fs on %s/%s",
        result.steps,
        config.loss,
        config.batch_size,
        result.seconds,
        device,
        result.precision,
    )
    return result
