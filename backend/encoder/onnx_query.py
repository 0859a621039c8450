"""Questions encoded with ONNX Runtime on the CPU: the same model, exported once and cached beside it.

A search on the CPU spends most of its time in one forward pass of the encoder over a short question,
where torch's per-call overhead dominates. The model's transformer is exported to ONNX (torch's own
exporter) and, by default, its weights quantised to int8 per channel (ONNX Runtime's dynamic
quantisation): a single question then takes a few milliseconds (docs/benchmarks.md, issue #19).
Documents stay on torch (batched, where torch is efficient, and the index keeps full precision), so
only the question's vector is approximate, and it is used only where it is measured to agree:

- **Gated on equivalence.** At load, a fixed sample of questions is encoded both ways; unless the mean
  cosine reaches :data:`MIN_MEAN_COSINE` (and none falls under :data:`MIN_COSINE`), ONNX is refused
  with the figures and torch serves. ``kbchat eval`` with the setting on measures the ranking effect.
- **Supported models**: a sentence-transformers pipeline of a Hugging Face transformer, mean pooling
  and (optionally) normalisation, like all-MiniLM; any other is refused with the reason.
- **Cached**: ``<artifacts>/onnx/<model id>/`` holds ``model.onnx`` (fp32) and ``model.int8.onnx``,
  written under a temporary name and renamed, so a crash never leaves half a file to load. A fine-tuned
  version has its own model id, so its own export.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MIN_MEAN_COSINE = 0.99
MIN_COSINE = 0.98
SAMPLE = [
    "How do I reset my password?",
    "Where is the warehouse?",
    "What does UnicodeDecodeError mean?",
    "Can I return sale items for a refund?",
    "How long does shipping to Canada take?",
    "Why is my router's admin page not loading?",
    "How do I create a multidimensional list?",
    "copy files and directories",
    "What is the difference between a list and a tuple?",
    "Is there a student discount?",
    "how to change the default shell of a user",
    "Which ports must be open for the VPN client?",
    "Wie setze ich mein Passwort zurück?",
    "Comment annuler ma commande ?",
    "configure the network interface with a static address",
    "My invoice shows the wrong VAT number, what now?",
]
"""Questions of the kinds kbchat answers (short, long, keywords, other languages): the check sample."""


class Unsupported(Exception):
    """This model cannot run its questions on ONNX here: the message says why."""


def _slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:120]


def _pipeline_parts(model: Any) -> tuple[Any, bool]:
    """The transformer module, and whether the pipeline normalises; Unsupported otherwise."""
    names = [type(m).__name__ for m in model]
    if not names or names[0] != "Transformer" or "Pooling" not in names[1:2]:
        raise Unsupported(f"the pipeline is {names}; ONNX queries need Transformer, Pooling[, Normalize]")
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None and getattr(pooling, "pooling_mode_mean_tokens", False):
        mode = "mean"  # sentence-transformers before 6 kept one flag per mode
    if mode != "mean":
        raise Unsupported(f"its pooling is {mode!r}; only mean pooling is exported")
    if any(n not in ("Normalize",) for n in names[2:]):
        raise Unsupported(f"modules after pooling ({names[2:]}) are not exported")
    return model[0].auto_model, "Normalize" in names


def _export(transformer: Any, inputs: list[str], sample: dict[str, Any], target: Path) -> None:
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(inputs, args, strict=True))).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*inputs, "last_hidden_state"]}
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch, warnings.catch_warnings():
        # The tracer warns about branches it fixes (causal masks, padding offsets) that an encoder's
        # attention never takes; the check against torch below is what says the export is right.
        warnings.simplefilter("ignore")
        path = Path(scratch) / target.name
        torch.onnx.export(
            LastHidden(transformer).eval(),
            tuple(sample[name] for name in inputs),
            str(path),
            input_names=inputs,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        os.replace(path, target)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        prepared, quantized = Path(scratch) / "pre.onnx", Path(scratch) / target.name
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        # Per channel: per-tensor int8 weights moved all-MiniLM's vectors to a mean cosine of 0.973.
        quantize_dynamic(prepared, quantized, weight_type=QuantType.QInt8, per_channel=True)
        os.replace(quantized, target)


def _inputs(model: Any) -> tuple[list[str], dict[str, Any]]:
    """The tokenizer's input names the transformer takes, and a sample batch of them (for tracing)."""
    probe = model.tokenizer(["a question"], return_tensors="pt")
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in probe], probe


def exported(model: Any, folder: Path, *, quantize: bool) -> Path:
    """The file questions run from, exported (and quantised) into ``folder`` unless already there.
    Raises :class:`Unsupported`, ImportError (no onnx package), or the exporter's own error."""
    transformer, _ = _pipeline_parts(model)
    folder.mkdir(parents=True, exist_ok=True)
    fp32, int8 = folder / "model.onnx", folder / "model.int8.onnx"
    started = time.perf_counter()
    if not fp32.exists() or (quantize and not int8.exists()):
        # torch's exporter and the quantiser need the onnx package; onnxruntime alone (as the ocr
        # extra brings it) loads files but cannot make them: say which install is missing.
        import onnx  # noqa: F401
    if not fp32.exists():
        inputs, probe = _inputs(model)
        _export(transformer, inputs, probe, fp32)
    if quantize and not int8.exists():
        _quantize(fp32, int8)
    if time.perf_counter() - started > 0.1:
        log.info("exported %s for ONNX queries in %.1fs", folder, time.perf_counter() - started)
    return int8 if quantize else fp32


class OnnxQueryEncoder:
    def __init__(self, model: Any, folder: Path, *, quantize: bool, prompt: str | None) -> None:
        """``model``: the loaded SentenceTransformer; ``folder``: where this model's exports live."""
        import onnxruntime as ort

        _, self.normalize = _pipeline_parts(model)
        self.tokenizer, self.prompt = model.tokenizer, prompt
        self.max_length = int(model.max_seq_length or 512)
        self.inputs, _ = _inputs(model)
        self.file = exported(model, folder, quantize=quantize)
        options = ort.SessionOptions()
        options.intra_op_num_threads = min(4, os.cpu_count() or 1)
        # Idle threads sleep instead of spinning: spinning took the cores torch needed for the next
        # document batch (raw torch encode ran 3x slower beside a spinning session on 2 cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.file), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [f"{self.prompt}{t}" for t in texts] if self.prompt else list(texts)
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        hidden = self.session.run(None, {n: encoded[n].astype(np.int64) for n in self.inputs})[0]
        mask = encoded["attention_mask"][..., None].astype(np.float32)
        vectors = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        if self.normalize:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.asarray(vectors, dtype=np.float32)


def agreement(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, float]:
    """Mean and lowest cosine between two sets of unit vectors, row by row."""
    cosines = (reference * candidate).sum(axis=1) / (
        np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    )
    return float(cosines.mean()), float(cosines.min())


def checked(
    model: Any, torch_embed: Any, folder: Path, *, quantize: bool, prompt: str | None
) -> tuple[OnnxQueryEncoder | None, str]:
    """The ONNX query encoder if it agrees with torch on :data:`SAMPLE`, else None; and what was found."""
    try:
        encoder = OnnxQueryEncoder(model, folder, quantize=quantize, prompt=prompt)
        mean, lowest = agreement(torch_embed(SAMPLE), encoder.embed(SAMPLE))
    except Unsupported as exc:
        return None, f"ONNX queries refused: {exc}"
    except ImportError:
        return None, "ONNX queries need the onnx extra: pip install 'kbchat[onnx]'; torch serves"
    except Exception as exc:  # an export the tracer cannot make, a damaged cached file: torch serves
        log.debug("ONNX export or load failed", exc_info=True)
        return None, (
            f"ONNX queries refused: {type(exc).__name__}: {exc} (files in {folder}; delete them to "
            "export again); torch serves"
        )
    figures = f"cosine to torch: mean {mean:.4f}, lowest {lowest:.4f} on {len(SAMPLE)} questions"
    if mean < MIN_MEAN_COSINE or lowest < MIN_COSINE:
        return None, (
            f"ONNX queries refused ({figures}; needs a mean of {MIN_MEAN_COSINE} and none under "
            f"{MIN_COSINE}); torch serves. Try KBCHAT_ENCODER__QUERY_RUNTIME=onnx (no int8)."
        )
    return encoder, f"ONNX queries on ({encoder.file.name}; {figures})"


def installed() -> bool:
    """Whether ONNX questions can be exported and run here (the onnx extra), without importing either."""
    from importlib.util import find_spec

    try:
        return find_spec("onnxruntime") is not None and find_spec("onnx") is not None
    except (ImportError, ValueError):  # a module blocked in sys.modules, or one without a spec
        return False


def export_folder(artifacts: Path, model_id: str) -> Path:
    return artifacts / "onnx" / _slug(model_id)
