"""A real HTTP server on loopback speaking OpenAI's, Anthropic's and Gemini's streaming wire formats.

Its answer is deterministic: the first sentence of source [1] followed by ``[1]`` (plus any markers a
test asks for), or a plain "not found" when the prompt carries no sources. A :class:`Script` makes it
fail (status codes in order), stall (a delay per token) and records what it was sent and whether a
client hung up mid-answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

_SOURCE = re.compile(r'<source id="(\d+)"[^>]*>\n(.*?)\n</source>', re.DOTALL)
REWRITE_MARK = "standalone search query"


@dataclass
class Script:
    fail: list[int] = field(default_factory=list)
    """HTTP statuses to answer with, one per request, before answering normally."""
    delay_s: float = 0.0
    """Pause before each token (and before the headers when ``stall_headers``)."""
    stall_headers: bool = False
    stall_requests: int = 1_000_000
    """How many requests ``stall_headers`` applies to (then answers normally)."""
    extra_markers: str = ""
    rewrite_to: str = "standalone query from the llm"
    requests: list[dict[str, Any]] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        self.fail.clear()
        self.delay_s, self.stall_headers, self.extra_markers = 0.0, False, ""
        self.stall_requests = 1_000_000
        self.requests.clear()
        self.cancelled.clear()


def _answer(prompt_text: str, script: Script, body: dict[str, Any]) -> str:
    if REWRITE_MARK in json.dumps(body):
        return script.rewrite_to
    sources = _SOURCE.findall(prompt_text)
    if not sources:
        return "I could not find that in the knowledge base."
    first = re.split(r"(?<=[.!?])\s", sources[0][1].strip(), maxsplit=1)[0]
    return f"{first} [{sources[0][0]}]{script.extra_markers}"


def _tokens(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


class LLMServer:
    def __init__(self) -> None:
        self.script = Script()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.openai, methods=["POST"]),
                Route("/v1/messages", self.anthropic, methods=["POST"]),
                Route("/v1beta/models/{model}:streamGenerateContent", self.gemini, methods=["POST"]),
            ]
        )
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LLMServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)

    async def _gate(self, request: Request, wire: str) -> tuple[dict[str, Any], Response | None]:
        body = await request.json()
        self.script.requests.append({"wire": wire, "body": body, "headers": dict(request.headers)})
        # Decide this request's fate on arrival, so a stalled request of an earlier test cannot take a
        # failure scripted for a later one.
        status = self.script.fail.pop(0) if self.script.fail else None
        if self.script.stall_headers and self.script.stall_requests > 0:
            self.script.stall_requests -= 1
            await asyncio.sleep(self.script.delay_s)
        if status is not None:
            error = {"error": {"message": f"scripted failure {status}", "type": "test"}}
            return body, JSONResponse(error, status_code=status)
        return body, None

    async def _paced(self, pieces: list[str]) -> AsyncIterator[str]:
        try:
            for piece in pieces:
                if self.script.delay_s and not self.script.stall_headers:
                    await asyncio.sleep(self.script.delay_s)
                yield piece
        except (asyncio.CancelledError, GeneratorExit):
            self.script.cancelled.set()
            raise

    async def openai(self, request: Request) -> Response:
        body, refused = await self._gate(request, "openai")
        if refused:
            return refused
        text = _answer(body["messages"][-1]["content"], self.script, body)
        events = [
            "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": t}}]}) + "\n\n"
            for t in _tokens(text)
        ]
        events.append(
            "data: "
            + json.dumps(
                {"choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": len(_tokens(text))}}
            )
            + "\n\n"
        )
        events.append("data: [DONE]\n\n")
        return StreamingResponse(self._paced(events), media_type="text/event-stream")

    async def anthropic(self, request: Request) -> Response:
        body, refused = await self._gate(request, "anthropic")
        if refused:
            return refused
        text = _answer(body["messages"][-1]["content"], self.script, body)

        def event(kind: str, payload: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n"

        events = [
            event("message_start", {"message": {"usage": {"input_tokens": 130, "output_tokens": 1}}}),
            event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ]
        events += [
            event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": t}})
            for t in _tokens(text)
        ]
        events += [
            event("content_block_stop", {"index": 0}),
            event(
                "message_delta",
                {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(_tokens(text))}},
            ),
            event("message_stop", {}),
        ]
        return StreamingResponse(self._paced(events), media_type="text/event-stream")

    async def gemini(self, request: Request) -> Response:
        body, refused = await self._gate(request, "gemini")
        if refused:
            return refused
        text = _answer(body["contents"][-1]["parts"][0]["text"], self.script, body)
        tokens = _tokens(text)
        events = []
        for i, t in enumerate(tokens):
            chunk: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": [{"text": t}]}}]}
            if i == len(tokens) - 1:
                chunk["usageMetadata"] = {"promptTokenCount": 140, "candidatesTokenCount": len(tokens)}
            events.append(f"data: {json.dumps(chunk)}\n\n")
        return StreamingResponse(self._paced(events), media_type="text/event-stream")
