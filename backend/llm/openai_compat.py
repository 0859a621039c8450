"""OpenAI's Chat Completions wire format: OpenAI itself, DeepSeek, Qwen, xAI, GLM, Mistral, and local
servers (Ollama, vLLM, llama.cpp). Configure ``base_url`` (ending in /v1), ``api_key`` and the model."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import ClassVar

import httpx

from backend.errors import UpstreamError
from backend.llm.base import Delta, Generation, Usage
from backend.llm.http import check, data_json, sse_events, translated


class OpenAICompatibleProvider:
    name: ClassVar[str] = "openai"

    def __init__(self, client: httpx.AsyncClient, *, base_url: str, api_key: str | None, label: str) -> None:
        self.client, self.base_url, self.label = client, base_url.rstrip("/"), label
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def stream(self, generation: Generation) -> AsyncGenerator[Delta, None]:
        body = {
            "model": generation.model,
            "messages": [{"role": m.role, "content": m.content} for m in generation.messages],
            "temperature": generation.temperature,
            "max_tokens": generation.max_output_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        async with (
            translated(self.label),
            self.client.stream(
                "POST", f"{self.base_url}/chat/completions", json=body, headers=self.headers
            ) as response,
        ):
            await check(response, self.label)
            async for _, data in sse_events(response):
                if data.strip() == "[DONE]":
                    return
                chunk = data_json(data, self.label)
                if "error" in chunk:
                    raise UpstreamError(f"{self.label}: {chunk['error']}", provider=self.label)
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield Delta(text=text)
                if chunk.get("usage"):
                    u = chunk["usage"]
                    yield Delta(usage=Usage(u.get("prompt_tokens", 0), u.get("completion_tokens", 0)))
