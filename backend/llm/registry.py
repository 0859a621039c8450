"""Provider kinds (built in, or from the ``kbchat.llm_providers`` entry point) and configured endpoints.

A third-party provider is a class with the built-ins' constructor
``(client: httpx.AsyncClient, *, base_url, api_key, label)`` and an async ``stream(generation)``.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

import httpx

from backend.errors import InvalidInput
from backend.llm.anthropic import AnthropicProvider
from backend.llm.base import LLMProvider
from backend.llm.config import EXTRACTIVE, ChainStep, ProviderEndpoint
from backend.llm.gemini import GeminiProvider
from backend.llm.openai_compat import OpenAICompatibleProvider

log = logging.getLogger(__name__)
BUILTIN_KINDS: dict[str, Any] = {
    "openai": OpenAICompatibleProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
}


def provider_kinds() -> dict[str, Any]:
    kinds = dict(BUILTIN_KINDS)
    for ep in entry_points(group="kbchat.llm_providers"):
        kinds.setdefault(ep.name, ep.load())
    return kinds


class ProviderRegistry:
    def __init__(
        self, endpoints: dict[str, ProviderEndpoint], client: httpx.AsyncClient, extractive: LLMProvider
    ) -> None:
        kinds = provider_kinds()
        self.endpoints = endpoints
        self.providers: dict[str, LLMProvider] = {EXTRACTIVE: extractive}
        for name, endpoint in endpoints.items():
            if endpoint.kind not in kinds:
                raise InvalidInput(
                    f"KBCHAT_LLM__PROVIDERS.{name}: unknown kind {endpoint.kind!r}; "
                    f"known: {', '.join(sorted(kinds))}"
                )
            key = endpoint.api_key.get_secret_value() if endpoint.api_key else None
            self.providers[name] = kinds[endpoint.kind](
                client, base_url=endpoint.base_url, api_key=key, label=name
            )
        log.info("LLM providers: %s", ", ".join(sorted(self.providers)))

    def check_chain(self, chain: list[ChainStep]) -> None:
        for step in chain:
            if step.provider not in self.providers:
                raise InvalidInput(
                    f"unknown provider {step.provider!r} in the chain; configured: "
                    f"{', '.join(sorted(self.providers))} (KBCHAT_LLM__PROVIDERS)"
                )
            if step.provider != EXTRACTIVE and not step.model:
                raise InvalidInput(f"provider {step.provider!r} needs a model name in the chain")
