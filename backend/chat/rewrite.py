"""Follow-up questions → standalone search queries ("and how long does *it* take?").

With an LLM in the chain, the first provider rewrites the question (short, bounded by a timeout);
otherwise, or if that fails, a heuristic prefixes the previous question when the new one is short or
leans on a pronoun. Retrieval then sees what the user means, not only what they typed.
"""

from __future__ import annotations

import asyncio
import logging
import re

from backend.errors import UpstreamError
from backend.llm.base import Generation, LLMMessage, LLMProvider, Prompt, Turn

log = logging.getLogger(__name__)
_REFERS_BACK = re.compile(
    r"\b(it|its|that|this|those|these|they|them|their|there|he|she|his|her|one|ones|same|above|"
    r"previous|else|more|also|too)\b",
    re.IGNORECASE,
)
INSTRUCTION = (
    "Rewrite the user's last message as one standalone search query that needs no conversation "
    "history to be understood. Reply with the query only."
)


def heuristic(message: str, history: list[Turn]) -> str:
    previous = next((t.content for t in reversed(history) if t.role == "user"), None)
    if previous is None:
        return message
    if len(message.split()) <= 6 or _REFERS_BACK.search(message):
        return f"{previous} {message}"
    return message


async def standalone_query(
    message: str, history: list[Turn], provider: LLMProvider | None, model: str, timeout_s: float = 8.0
) -> str:
    if not history:
        return message
    if provider is None:
        return heuristic(message, history)
    transcript = "\n".join(f"{t.role}: {t.content}" for t in history[-6:])
    messages = [LLMMessage("system", INSTRUCTION), LLMMessage("user", f"{transcript}\nuser: {message}")]
    generation = Generation(messages, Prompt(message, []), model, 0.0, 64)

    async def collect() -> str:
        return "".join([d.text async for d in provider.stream(generation)])

    try:
        query = (await asyncio.wait_for(collect(), timeout_s)).strip().strip('"')
    except (UpstreamError, TimeoutError) as exc:
        log.info("query rewrite failed (%s); using the heuristic", exc)
        return heuristic(message, history)
    return query[:500] if query else heuristic(message, history)
