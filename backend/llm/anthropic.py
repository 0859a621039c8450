"""Anthropic's Messages API (streaming): ``content_block_delta`` events carry the text."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import ClassVar

import httpx

from backend.errors import UpstreamError
from backend.llm.base import Delta, Generation, Usage
from backend.llm.http import check, data_json, sse_events, translated

API_VERSION = "2023-06-01"


class AnthropicProvider:
    name: ClassVar[str] = "anthropic"

    def __init__(self, client: httpx.AsyncClient, *, base_url: str, api_key: str | None, label: str) -> None:
        self.client, self.base_url, self.label = client, base_url.rstrip("/"), label
        self.headers = {"anthropic-version": API_VERSION, **({"x-api-key": api_key} if api_key else {})}

    async def stream(self, generation: Generation) -> AsyncGenerator[Delta, None]:
        system = "\n\n".join(m.content for m in generation.messages if m.role == "system")
        body = {
            "model": generation.model,
            "system": system,
            "messages": [
                {"role": m.role, "content": m.content} for m in generation.messages if m.role != "system"
            ],
            "temperature": generation.temperature,
            "max_tokens": generation.max_output_tokens,
            "stream": True,
        }
        input_tokens = 0
        async with (
            translated(self.label),
            self.client.stream(
                "POST", f"{self.base_url}/v1/messages", json=body, headers=self.headers
            ) as response,
        ):
            await check(response, self.label)
            async for event, data in sse_events(response):
                payload = data_json(data, self.label)
                kind = payload.get("type", event)
                if kind == "message_start":
                    input_tokens = (payload.get("message", {}).get("usage") or {}).get("input_tokens", 0)
                elif kind == "content_block_delta" and payload.get("delta", {}).get("type") == "text_delta":
                    yield Delta(text=payload["delta"].get("text", ""))
                elif kind == "message_delta" and payload.get("usage"):
                    yield Delta(usage=Usage(input_tokens, payload["usage"].get("output_tokens", 0)))
                elif kind == "error":
                    error = payload.get("error", {})
                    retryable = error.get("type") in ("overloaded_error", "api_error", "rate_limit_error")
                    raise UpstreamError(
                        f"{self.label}: {error.get('message', error)}",
                        provider=self.label,
                        retryable=retryable,
                    )
                elif kind == "message_stop":
                    return
