"""Server-Sent Events on the wire: keep-alive comments while the answer is being prepared.

Retrieval and a slow model's first token can take many seconds; reverse proxies and load balancers
close a response that sends nothing for a while (nginx after 60 s, some after 30 s). While no event
is ready, a comment line (``: keep-alive``) goes out every ``interval_s``; clients ignore comments.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio

KEEPALIVE = ": keep-alive\n\n"


async def with_keepalive(events: AsyncIterator[str], interval_s: float) -> AsyncIterator[str]:
    """``events`` as they come, with :data:`KEEPALIVE` after each ``interval_s`` of silence. When the
    client goes away, the events are closed once their current step ends (at worst the provider's read
    timeout), so the work behind them stops."""
    iterator = aiter(events)
    pending: asyncio.Future[str] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({pending}, timeout=interval_s)
            if not done:
                yield KEEPALIVE
                continue
            try:
                chunk = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield chunk
    finally:
        # Closing the events, not cancelling their step, is what stops the work behind them cleanly
        # (an async generator cannot be closed while a step runs, so the step is let finish first).
        # Shielded: the response's own cancellation must not cut this clean-up short.
        with anyio.CancelScope(shield=True):
            if pending is not None:
                with contextlib.suppress(BaseException):
                    await pending
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
