"""Plugins extend kbchat without ``backend`` importing them: imports flow one way.

A plugin is a module named by an entry point in the ``kbchat.plugins`` group with a function
``register(registry: PluginRegistry)``. The project's own ``ingest`` package is registered this way
in pyproject.toml, and so can a third party's: new job kinds, new CLI commands.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import typer

    from backend.jobs.worker import BatchHandler, JobHandler
    from backend.services import Services

log = logging.getLogger(__name__)
GROUP = "kbchat.plugins"

HandlerFactory = Callable[["Services"], "JobHandler | BatchHandler"]
Lane = Literal["compute", "io"]
"""Where a job kind runs: "compute" (the encoder: embedding, training; one at a time per process) or
"io" (waiting on other servers: fetching pages, delivering webhooks; several at once)."""


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
