"""Plugins extend kbchat without ``backend`` importing them: imports flow one way.

A plugin is a module named by an entry point in the ``kbchat.plugins`` group with a function
``register(registry: PluginRegistry)``. The project's own ``ingest`` and ``finetune`` packages are
registered this way in pyproject.toml, and so can a third party's: new job kinds, new CLI commands.

A job handler factory receives a :class:`PluginHost`: the service's long-lived parts a handler may
use, typed here so a plugin is checked against them without importing the composition root
(``backend.services``, which imports this module).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:  # types only: `kbchat --help` loads this module and must stay fast
    import typer
    from sqlalchemy.orm import Session, sessionmaker

    from backend.jobs.queue import JobQueue
    from backend.jobs.worker import BatchHandler, JobHandler
    from backend.retrieval.search import Retriever
    from backend.serving.router import EncoderRouter
    from backend.settings import Settings
    from backend.telemetry import Telemetry

log = logging.getLogger(__name__)
GROUP = "kbchat.plugins"


class PluginHost(Protocol):
    """The parts of the running service a job handler is built from (``backend.services.Services``)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def encoders(self) -> EncoderRouter:
        """Which encoder serves each knowledge base: ask it once per operation."""
        ...

    @property
    def queue(self) -> JobQueue: ...
    @property
    def retriever(self) -> Retriever: ...
    @property
    def telemetry(self) -> Telemetry:
        """This process's measurements: what a handler records for GET /metrics."""
        ...

    @property
    def closers(self) -> list[Callable[[], None]]:
        """Append what the handler must release at shutdown (a client, a parser process)."""
        ...

    def wake_workers(self) -> None:
        """Start this process's idle workers on jobs just queued, instead of at their next poll."""
        ...

    def follow_encoders(self) -> list[str]:
        """Pick up encoder switches other processes made; the knowledge bases that moved."""
        ...


HandlerFactory = Callable[["PluginHost"], "JobHandler | BatchHandler"]
Lane = Literal["compute", "io"]
"""Where a job kind runs: "compute" (the encoder: embedding, training; one at a time per process) or
"io" (waiting on other servers: fetching pages, delivering webhooks; several at once)."""


def deferred(module: str, name: str) -> HandlerFactory:
    """A handler factory that imports ``module`` only when a service builds its handlers. Handlers pull
    in torch and sentence-transformers (seconds); registering them must not, or ``kbchat --help``
    would wait for those imports before printing a line."""

    def build(host: PluginHost) -> JobHandler | BatchHandler:
        factory: HandlerFactory = getattr(importlib.import_module(module), name)
        return factory(host)

    build.__qualname__ = f"deferred({module}.{name})"
    return build


@dataclass
class PluginRegistry:
    job_handlers: dict[str, HandlerFactory] = field(default_factory=dict)
    lanes: dict[str, Lane] = field(default_factory=dict)
    cli_extensions: list[Callable[[typer.Typer], None]] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)

    def add_job_handler(self, kind: str, factory: HandlerFactory, *, lane: Lane = "compute") -> None:
        if kind in self.job_handlers:
            raise ValueError(f"two plugins register a handler for job kind {kind!r}")
        self.job_handlers[kind] = factory
        self.lanes[kind] = lane

    def add_cli(self, extend: Callable[[typer.Typer], None]) -> None:
        self.cli_extensions.append(extend)


_registry: PluginRegistry | None = None


def load_plugins(*, reload: bool = False) -> PluginRegistry:
    """Load every installed plugin once per process."""
    global _registry
    if _registry is not None and not reload:
        return _registry
    registry = PluginRegistry()
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        module: Any = importlib.import_module(ep.value)
        module.register(registry)
        registry.loaded.append(ep.name)
    if "ingest" not in registry.loaded:
        log.warning(
            "the 'ingest' plugin is not installed, so uploads will never be processed. "
            "Install kbchat into the environment: pip install -e ."
        )
    _registry = registry
    return registry
