"""Provider endpoints (operator settings, keys included) and the per-knowledge-base chat settings.

Keys live only in the service's environment (``KBCHAT_LLM__PROVIDERS``), never in the database or
an API response; a knowledge base names an endpoint and a model in its fallback chain.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

EXTRACTIVE = "extractive"


class ProviderEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(
        description="openai (any OpenAI-compatible server), anthropic, gemini, or a plugin's kind."
    )
    base_url: str = Field(description="e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1 (Ollama)")
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=60.0, gt=0, description="Longest wait for the next piece of an answer.")
    max_retries: int = Field(default=2, ge=0, le=5, description="Retries on 429, 5xx and timeouts.")
    context_tokens: int = Field(default=16_000, ge=1_000, description="The model's context window.")


class ChainStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        description="A name from KBCHAT_LLM__PROVIDERS, or 'extractive' (offline, always works)."
    )
    model: str = ""


class ChatSettings(BaseModel):
    """Per knowledge base: who answers and how."""

    model_config = ConfigDict(extra="forbid")

    chain: list[ChainStep] | None = Field(
        default=None,
        max_length=5,
        description="Providers tried in order on timeouts, 429 and 5xx. Empty: the service's default chain.",
    )
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_output_tokens: int = Field(default=700, ge=16, le=8000)
    system_prompt: str | None = Field(default=None, max_length=4000)
    tone: str | None = Field(default=None, max_length=200, examples=["friendly and concise"])
    assistant_name: str | None = Field(default=None, max_length=100)
