"""The languages a question's keywords are analysed in: its own, and those of the knowledge base.

A chunk's terms are stemmed in the chunk's language. A German question to English documents has
German stems ("pakete" → "paket") that no English chunk holds, but its words that English shares
("Debian", "apt-get", "Kernel") must still be stemmed as the English chunks were. So a question is
analysed in its detected language and in each language the knowledge base's chunks are in (counted
in the collection itself, so a deleted document's language leaves with it), and it matches a chunk
through whichever applies. A stop word of any of them is dropped: a chunk in that language dropped
it too, and in the others it is noise ("de", "la" in a French question).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from backend.keywords import LEGACY
from backend.keywords.analysis import DEFAULT_LANGUAGE
from backend.serving.snapshot import EncoderSnapshot
from backend.text.languages import Detected, detect

TTL_S = 60.0
"""How long a knowledge base's languages are reused: a language arrives with whole documents, so a
minute's delay costs nothing and saves a facet count per search."""
MIN_SHARE = 0.02
"""A language with fewer of the knowledge base's chunks is not worth a query's extra terms (a quoted
foreign phrase, a chunk misdetected)."""
MAX_LANGUAGES = 4


@dataclass(frozen=True, slots=True)
class QueryLanguage:
    detected: Detected | None
    """The question's own language, when the detector is sure enough (backend/text/languages.py)."""
    analysis: tuple[str, ...]
    """The languages its keywords are analysed in (empty for the legacy analysis, which has one)."""


class QueryLanguages:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = {}

    def __call__(self, snapshot: EncoderSnapshot, kb_id: str, query: str) -> QueryLanguage:
        detected = detect(query)
        if snapshot.keywords.version == LEGACY:
            return QueryLanguage(detected, ())
        own = (detected.language,) if detected else ()
        analysis = tuple(dict.fromkeys((*own, *self.of_knowledge_base(snapshot, kb_id))))
        return QueryLanguage(detected, analysis or (DEFAULT_LANGUAGE,))

    def of_knowledge_base(self, snapshot: EncoderSnapshot, kb_id: str) -> tuple[str, ...]:
        key, now = (snapshot.vectors.collection, kb_id), time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and now - cached[0] < TTL_S:
            return cached[1]
        counts = snapshot.vectors.languages(kb_id=kb_id)
        total = sum(counts.values())
        found = tuple(
            lang for lang, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n >= MIN_SHARE * total
        )[:MAX_LANGUAGES]
        with self._lock:
            self._cache[key] = (now, found)
        return found
