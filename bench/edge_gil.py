"""Does a Qdrant Edge query let the process's other Python threads run? (the GIL during a query)

    .venv/bin/python -m bench.edge_gil [--points 20000] [--seconds 2]

A search runs in a worker thread of the API process; while the store answers, the event loop (reading
and writing every other request) and the other searches need the GIL. A native call that releases it
(NumPy's LAPACK, ONNX Runtime, a socket read) lets them run on the other cores; one that holds it makes
every Python thread wait for the query to end. This prints how fast a pure-Python counting thread runs
alone, while the main thread runs Edge queries back to back, and while it runs a LAPACK call that
releases the GIL (the control): a share near 1 means the store lets go of the GIL; a share far below
the control's means each query holds it. Rerun it when qdrant-edge-py is upgraded.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np

from backend.vectorstore.base import ChunkRecord, SearchMode, SparseVector
from backend.vectorstore.edge import EdgeVectorStore
from backend.vectorstore.ids import point_id


class Counter:
    """A thread doing nothing but Python bytecode: its rate is how much of the GIL it gets."""

    def __init__(self) -> None:
        self.count, self.stop = 0, False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop:
            self.count += 1

    def rate_while(self, work: Callable[[], None] | None, seconds: float) -> tuple[float, float]:
        """(the counter's increments per second, ``work`` calls per second) over ``seconds``."""
        start_count, started, calls = self.count, time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            if work is None:
                time.sleep(0.01)
            else:
                work()
                calls += 1
        elapsed = time.perf_counter() - started
        return (self.count - start_count) / elapsed, calls / elapsed


def _store(points: int, dimension: int = 384) -> EdgeVectorStore:
    rng = np.random.default_rng(0)
    store = EdgeVectorStore(
        Path(tempfile.mkdtemp(prefix="kbchat-bench-gil-")) / "edge",
        prefix="g",
        encoder_id="g@1",
        dimension=dimension,
    )
    store.ensure_ready()
    vectors = rng.normal(size=(points, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for start in range(0, points, 2000):
        store.upsert(
            [
                ChunkRecord(
                    point_id(f"d{i // 10}", i % 10, f"t{i}"),
                    vectors[i],
                    SparseVector([i % 97, 100 + i % 13], [1.0, 0.5]),
                    {"kb_id": "kb", "document_id": f"d{i // 10}", "text": f"t{i}", "chunk_index": i % 10},
                )
                for i in range(start, min(points, start + 2000))
            ]
        )
    return store


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    store = _store(args.points)
    rng = np.random.default_rng(1)
    question = rng.normal(size=384).astype(np.float32)
    question /= np.linalg.norm(question)
    keywords = SparseVector([3, 105], [1.0, 1.0])
    matrix = rng.normal(size=(300, 300))

    def query(mode: SearchMode) -> Callable[[], None]:
        return lambda: store.search(
            kb_id="kb", dense=question, sparse=keywords, mode=mode, limit=100, hydrate=False
        )

    counter = Counter()
    counter.thread.start()
    counter.rate_while(None, 0.5)  # the thread is running
    alone, _ = counter.rate_while(None, args.seconds)
    print(
        f"qdrant-edge-py {version('qdrant-edge-py')}, {args.points} points; a Python thread alone: {alone:,.0f}/s"
    )
    for name, work in [
        ("NumPy SVD (releases the GIL; control)", lambda: np.linalg.svd(matrix)),
        ("Edge dense queries", query(SearchMode.DENSE)),
        ("Edge sparse queries", query(SearchMode.SPARSE)),
    ]:
        rate, calls = counter.rate_while(work, args.seconds)
        print(f"  while {name:<40} back to back ({calls:6.0f}/s): the thread runs at {rate / alone:4.2f}x")
    counter.stop = True
    store.close()


if __name__ == "__main__":
    main()
