"""torch's intra-op thread count, set per encoding path.

A question is a few dozen tokens: torch splits each of its small operations across its threads, and
from any thread but the process's first (a server encodes on a worker thread) that costs more than it
wins. On these 2 cores one question took 13 ms from the main thread on 2 threads, 22–25 ms from
another thread on 2 and 15–21 ms there on 1; over HTTP, 8 clients got 49–54 searches/s with p95
182–227 ms on 1 thread against 37–40/s and 695 ms on 2 (docs/benchmarks.md). Documents and training
want every core.

torch keeps the count per thread (OpenMP's setting of the calling thread), but a thread that never set
it starts from the last count set *anywhere*. So every path sets its own before it runs — questions
few, documents and training all — whichever thread served the other before, and "all" is torch's
default as it was before kbchat first changed it.
"""

from __future__ import annotations

import threading

_default: int | None = None
_lock = threading.Lock()


def _torch_default() -> int:
    """torch's thread count before kbchat set one (read on the first call, before any set)."""
    global _default
    with _lock:
        if _default is None:
            import torch

            _default = torch.get_num_threads()
        return _default


def use_threads(count: int | None = None) -> None:
    """Run torch on ``count`` intra-op threads from the calling thread on; None: all (the default)."""
    wanted = _torch_default() if count is None else count
    import torch

    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
