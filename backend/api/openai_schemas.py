"""Wire shapes of ``POST /v1/chat/completions``, as OpenAI's client libraries send and read them.

Requests accept the options OpenAI clients send and kbchat ignores (``n``, ``top_p``, ``user``…);
responses are OpenAI's ``chat.completion`` object plus kbchat's ``citations``, ``conversation_id``
and ``confidence``, which clients pass through untouched.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.api.schemas import CitationPublic


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI clients send options we ignore (n, top_p, user…)

    model: str = Field(description="A knowledge base name or id.")
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=16, le=8000)


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class CompletionChoice(BaseModel):
    index: int = 0
    message: CompletionMessage
    finish_reason: Literal["stop"] = "stop"


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """OpenAI's ``chat.completion``, with what kbchat adds."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = Field(description="The knowledge base's name.")
    choices: list[CompletionChoice]
    usage: CompletionUsage
    citations: list[CitationPublic] = Field(description="The passages the answer cites, by [n].")
    conversation_id: str
    confidence: float | None = Field(
        description="The best passage's calibrated confidence (None: nothing was retrieved)."
    )
