"""A loader's sign of life during long work (OCR reads a scanned page in seconds): the isolated
parser's deadline counts from the last sign, so a 200-page scan is not mistaken for a hung parser,
while a loader that stops making progress is still stopped. Outside the parser process: a no-op."""

from __future__ import annotations

from collections.abc import Callable

_listener: Callable[[], None] | None = None


def listen(callback: Callable[[], None] | None) -> None:
    global _listener
    _listener = callback


def beat() -> None:
    if _listener is not None:
        _listener()
