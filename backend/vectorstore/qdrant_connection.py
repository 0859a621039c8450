"""A qdrant-client connection, to a server by URL or local on-disk mode, and its errors in our terms.

qdrant-client raises different errors in local mode (``ValueError``, ``RuntimeError``) and against
a server (``UnexpectedResponse``, transport errors); :func:`translated` maps both to
:class:`~backend.errors.Unavailable`, with the action that failed, so a 3 a.m. log says what broke.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from backend.errors import KbchatError, Unavailable


def make_client(
    *, url: str | None, path: Path, api_key: str | None = None, timeout_s: float = 30
) -> QdrantClient:
    """A client for the server at ``url``, or local on-disk mode at ``path`` when no URL is set."""
    if url:
        return QdrantClient(url=url, api_key=api_key, timeout=int(timeout_s))
    path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as exc:  # the local store is a single-process file lock
        raise Unavailable(
            f"the embedded Qdrant store at {path} is in use by another kbchat process. Stop it, or run "
            "a Qdrant server and set KBCHAT_QDRANT__URL so several processes can share it."
        ) from exc


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    try:
        yield
    except KbchatError:
        raise
    except UnexpectedResponse as exc:
        raise Unavailable(f"Qdrant refused to {action}: HTTP {exc.status_code} {exc.content!r:.300}") from exc
    except (ResponseHandlingException, ConnectionError, TimeoutError, OSError) as exc:
        raise Unavailable(f"Qdrant is unreachable while trying to {action}: {exc}. Is it running?") from exc
    except ValueError as exc:  # local mode's "not found" and validation errors
        raise Unavailable(f"Qdrant could not {action}: {exc}") from exc
