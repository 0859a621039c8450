"""The events of one streamed chat turn, and their Server-Sent Events encoding.

token      {"text": "..."}                     the answer, piece by piece
citations  {"citations": [...]}                once, after the last token
done       {"conversation_id", "message_id", "provider", "model", "usage", "timings_ms", "fallbacks",
            "search_query", "confidence"}
error      {"code", "message"}                 instead of citations/done when every provider failed
handoff    {"conversation_id", "message_id"}   alone: a person handles the conversation; the message
                                               was stored and forwarded, nothing is answered
accepted   {"conversation_id", "message_id"}   first, internal: the question is valid and stored, an answer
                                               follows; the API starts its response here (and keeps it
                                               alive), and does not send this event itself
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ACCEPTED = "accepted"


@dataclass(frozen=True, slots=True)
class ChatEvent:
    type: str
    data: dict[str, Any]

    def sse(self) -> str:
        return f"event: {self.type}\ndata: {json.dumps(self.data, ensure_ascii=False)}\n\n"
