"""Answer generators behind the :class:`LLMProvider` seam."""

from backend.llm.base import LLMProvider, Prompt, Source, Turn
from backend.llm.extractive import ExtractiveProvider

__all__ = ["ExtractiveProvider", "LLMProvider", "Prompt", "Source", "Turn"]
