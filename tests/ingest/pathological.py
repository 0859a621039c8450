"""A parse target for the isolation tests that misbehaves on request, then parses normally.

Selected by the format name: it must run in the child process, so it cannot be a closure."""

from __future__ import annotations

import os
import signal
import time

from ingest.loaders import ParsedDocument, parse, progress


def misbehaving_parse(data: bytes, *, format: str, name: str) -> ParsedDocument:
    if format == "hang":
        time.sleep(3600)
    if format == "hog":
        blocks = []
        while True:  # grows until the address-space cap turns an allocation into MemoryError
            blocks.append(bytearray(64 * 1024 * 1024))
    if format == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if format == "slow-but-alive":  # long work (OCR of many pages) that says it is alive
        for _ in range(7):
            time.sleep(0.4)  # stands for a page's work
            progress.beat()
        return parse(data, format="markdown", name=name)
    if format == "bug":
        raise ZeroDivisionError("division by zero in a loader")
    return parse(data, format=format, name=name)
