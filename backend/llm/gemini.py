"""Google's Gemini API (``streamGenerateContent`` with ``alt=sse``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import ClassVar

import httpx

from backend.errors import UpstreamError
from backend.llm.base import Delta, Generation, Usage
from backend.llm.http import check, data_json, sse_events, translated


class GeminiProvider:
    name: ClassVar[str] = "gemini"

    def __init__(self, client: httpx.AsyncClient, *, base_url: str, api_key: str | None, label: str) -> None:
        self.client, self.base_url, self.label = client, base_url.rstrip("/"), label
        self.headers = {"x-goog-api-key": api_key} if api_key else {}

    async def stream(self, generation: Generation) -> AsyncGenerator[Delta, None]:
        system = "\n\n".join(m.content for m in generation.messages if m.role == "system")
        body = {
            "systemInstruction": {"parts": [{"text": system}]},
            "contents": [
                {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
                for m in generation.messages
                if m.role != "system"
            ],
            "generationConfig": {
                "temperature": generation.temperature,
                "maxOutputTokens": generation.max_output_tokens,
            },
        }
        url = f"{self.base_url}/v1beta/models/{generation.model}:streamGenerateContent"
        usage: Usage | None = None
        async with (
            translated(self.label),
            self.client.stream(
                "POST", url, params={"alt": "sse"}, json=body, headers=self.headers
            ) as response,
        ):
            await check(response, self.label)
            async for _, data in sse_events(response):
                payload = data_json(data, self.label)
                if "error" in payload:
                    raise UpstreamError(f"{self.label}: {payload['error']}", provider=self.label)
                for candidate in payload.get("candidates") or []:
                    for part in (candidate.get("content") or {}).get("parts") or []:
                        if part.get("text"):
                            yield Delta(text=part["text"])
                meta = payload.get("usageMetadata")
                if meta:
                    usage = Usage(meta.get("promptTokenCount", 0), meta.get("candidatesTokenCount", 0))
        if usage:
            yield Delta(usage=usage)
