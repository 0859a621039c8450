"""Run a turn down the provider chain: bounded retries with backoff on 429, 5xx and timeouts, then the
next provider. Once a provider has sent text, a failure is reported rather than silently restarted
elsewhere (the user has already seen part of an answer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from backend import tracing
from backend.errors import UpstreamError, UpstreamTimeout
from backend.llm.base import Delta, Generation, Prompt
from backend.llm.config import ChainStep
from backend.llm.registry import ProviderRegistry

log = logging.getLogger(__name__)
BACKOFF_S = 0.25

# (context tokens of the endpoint) -> (the packed prompt, the generation to send)
Packer = Callable[[int], tuple[Prompt, Generation]]


@dataclass
class FallbackStream:
    """One turn's run down the chain; after iteration, says which step answered and what failed."""

    registry: ProviderRegistry
    chain: list[ChainStep]
    packer: Packer
    answered_by: ChainStep | None = None
    prompt: Prompt | None = None
    """The prompt as packed for the provider that answered: its sources are the citable ones."""
    failures: list[dict[str, str]] = field(default_factory=list)

    async def __aiter__(self) -> AsyncIterator[Delta]:
        last: UpstreamError | None = None
        for step in self.chain:
            provider = self.registry.providers[step.provider]
            endpoint = self.registry.endpoints.get(step.provider)
            retries = endpoint.max_retries if endpoint else 0
            prompt, generation = self.packer(endpoint.context_tokens if endpoint else 1_000_000)
            generation = Generation(
                generation.messages, prompt, step.model, generation.temperature, generation.max_output_tokens
            )
            for attempt in range(retries + 1):
                sent = False
                stream = provider.stream(generation)
                attributes: dict[str, str | int] = {
                    "llm.provider": step.provider,
                    "llm.model": step.model,
                    "llm.attempt": attempt + 1,
                }
                call = tracing.tracer().start_span(f"llm {step.provider}", attributes=attributes)
                outcome = "incomplete"  # the visitor hung up, or the turn was cancelled
                timeout = endpoint.timeout_s if endpoint else None
                try:
                    while True:
                        try:
                            # asyncio.timeout, not wait_for: it cancels inside this task, so the provider's
                            # generator unwinds (and closes its HTTP stream) instead of being left running.
                            async with asyncio.timeout(timeout):
                                delta = await anext(stream)
                        except StopAsyncIteration:
                            break
                        except TimeoutError:
                            raise UpstreamTimeout(
                                f"{step.provider} sent nothing for {timeout:.0f}s", provider=step.provider
                            ) from None
                        sent = sent or bool(delta.text)
                        yield delta
                    self.answered_by, self.prompt = step, prompt
                    outcome = "answered"
                    return
                except UpstreamError as exc:
                    last, outcome = exc, f"failed: {exc.code}"
                    self.failures.append(
                        {"provider": step.provider, "model": step.model, "error": exc.message}
                    )
                    log.warning(
                        "provider %s (attempt %d) failed: %s", step.provider, attempt + 1, exc.message
                    )
                    if sent:
                        raise
                    if not exc.retryable or attempt == retries:
                        break
                    await asyncio.sleep(BACKOFF_S * 2**attempt)
                finally:
                    call.set_attribute("llm.outcome", outcome)
                    call.end()
                    # Closes the provider's HTTP stream at once: a client that hangs up (or a timeout)
                    # cancels the upstream request instead of letting it run to the end.
                    await stream.aclose()
        raise last or UpstreamError("no provider in the chain", provider="")
