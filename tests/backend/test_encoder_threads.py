"""Questions run on few torch threads, documents on all, whichever thread encoded what before (the real
bundled encoder; backend/encoder/threads.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from backend.encoder.threads import _torch_default, use_threads

QUESTION = "Where is the warehouse that scans returned parcels?"
DOCUMENTS = ["Refunds reach the original card within 5 business days.", "Sale items can be exchanged."]


def test_a_thread_that_served_questions_gets_every_core_back_for_documents(embedder) -> None:
    all_cores = _torch_default()

    def in_a_worker_thread() -> tuple[int, int, np.ndarray, np.ndarray]:
        question = embedder._questions([QUESTION])  # the server's path: its query thread
        on_question = torch.get_num_threads()
        documents = embedder.embed_documents(DOCUMENTS)
        return on_question, torch.get_num_threads(), question, documents

    with ThreadPoolExecutor(1) as pool:
        on_question, on_documents, question, documents = pool.submit(in_a_worker_thread).result()
    assert on_question == 1  # KBCHAT_ENCODER__QUERY_THREADS' default
    assert on_documents == all_cores
    # The thread count changes how the work is split, not the vectors.
    use_threads()
    raw = embedder.sentence_transformer.encode([QUESTION, *DOCUMENTS], normalize_embeddings=True)
    assert np.allclose(question[0], raw[0], atol=1e-5)
    assert np.allclose(documents, raw[1:], atol=1e-5)


def test_many_questions_at_once_are_encoded_on_every_core(embedder) -> None:
    def in_a_worker_thread() -> int:
        embedder._questions([QUESTION])
        embedder.embed_queries([QUESTION, "How long do refunds take?"])  # an evaluation's batch
        return torch.get_num_threads()

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(in_a_worker_thread).result() == _torch_default()
