"""Concurrent questions are encoded together (the real bundled encoder): each caller gets exactly its
own vector, questions that arrive while a pass runs share the next one, and an error reaches the
callers of its batch without stopping the batcher."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from backend.encoder.query_batcher import QueryBatcher
from tests.conftest import wait_until

QUESTIONS = [f"How do I reset the password of account number {i}?" for i in range(32)]


def test_questions_waiting_share_one_pass_and_each_gets_its_own_vector(embedder) -> None:
    reference = np.vstack([embedder._questions([q]) for q in QUESTIONS])
    release, sizes = threading.Event(), []

    def encode(texts: list[str]) -> np.ndarray:
        if not sizes:
            release.wait(30)  # the first pass runs until every other question is waiting
        sizes.append(len(texts))
        return embedder._questions(texts)

    batcher = QueryBatcher(encode, name="test")
    with ThreadPoolExecutor(32) as pool:
        first = pool.submit(batcher.embed, QUESTIONS[:1])
        wait_until(
            lambda: sizes == [] and batcher._thread is not None and not batcher._pending,
            what="the first pass",
        )
        rest = [pool.submit(batcher.embed, [q]) for q in QUESTIONS[1:]]
        wait_until(lambda: len(batcher._pending) == 31, what="31 questions waiting")
        release.set()
        vectors = np.vstack([first.result(), *[f.result() for f in rest]])
    assert sizes == [1, 31] and batcher.batches == 2
    assert np.allclose(vectors, reference, atol=1e-5)  # padding in a batch changes nothing


def test_an_error_reaches_its_callers_and_the_next_batch_is_served(embedder) -> None:
    def encode(texts: list[str]) -> np.ndarray:
        if "boom" in texts:
            raise RuntimeError("encoder failed")
        return embedder._questions(texts)

    batcher = QueryBatcher(encode, name="test")
    with pytest.raises(RuntimeError, match="encoder failed"):
        batcher.embed(["boom"])
    assert batcher.embed(["still serving?"]).shape == (1, embedder.dimension)
