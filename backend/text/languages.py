"""Which language a text is written in: the keyword analyser stems and drops stop words by it.

py3langid (a maintained fork of langid.py: a naive-Bayes byte n-gram model in numpy, 4.6 MB, no
download, deterministic) was chosen over the alternatives the registries offer: lingua is more
accurate on short texts but a 96 MB wheel; fastText-based detectors fetch their model at run time;
langdetect is random unless seeded and slow. Detection is restricted to :data:`LANGUAGES`, the
languages the analyser has a stemmer or a segmentation for: a smaller label set is more accurate on
short texts, and a language outside it would change nothing downstream. On the 2,334 section titles
of ``debian-reference-xl`` (two to six words) it names the right language for 84–99 % per language
(English titles are the hardest: "Debian" or "X Window" alone say little).

The model loads (0.6 s) on the first detection, not at import, so the CLI stays quick to start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

LANGUAGES: tuple[str, ...] = (
    "ar", "ca", "da", "de", "el", "en", "es", "eu", "fi", "fr", "hu", "id", "it", "ja", "ko", "lt",
    "nl", "no", "pl", "pt", "ro", "ru", "sv", "ta", "tr", "zh",
)  # fmt: skip
"""ISO 639-1 codes detection may answer: those with a Snowball stemmer, plus the CJK languages."""

MAX_DETECT_CHARS = 2000
"""Detection reads at most this much: the first paragraphs decide, and a book-length text costs the
same as a page."""


@dataclass(frozen=True, slots=True)
class Detected:
    language: str
    probability: float


class _Classifier(Protocol):
    def classify(self, text: str) -> tuple[str, float]: ...


class _Identifier:
    """The py3langid model, loaded once on first use (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: _Classifier | None = None

    def classify(self, text: str) -> tuple[str, float]:
        model = self._model
        if model is None:
            with self._lock:
                if self._model is None:
                    from py3langid.langid import MODEL_FILE, LanguageIdentifier

                    loaded = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                    loaded.set_languages(list(LANGUAGES))
                    self._model = loaded
                model = self._model
        language, probability = model.classify(text)
        return str(language), float(probability)


_identifier = _Identifier()


def detect(text: str, *, min_probability: float = 0.5) -> Detected | None:
    """The language of ``text``, or None when the text has no letters or the model is unsure.

    ``min_probability``: the model's normalised probability below which the answer is dropped (a
    query of two words is often ambiguous; the caller then falls back to the knowledge base's
    languages)."""
    sample = text[:MAX_DETECT_CHARS]
    if not any(ch.isalpha() for ch in sample):
        return None
    language, probability = _identifier.classify(sample)
    if probability < min_probability:
        return None
    return Detected(language, probability)


def language_of(text: str, default: str, *, min_probability: float = 0.5) -> str:
    """:func:`detect`'s language, or ``default`` when it cannot tell."""
    detected = detect(text, min_probability=min_probability)
    return detected.language if detected else default
