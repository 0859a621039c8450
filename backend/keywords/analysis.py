"""Text → keyword terms, per language: what the BM25 sparse vectors are built from.

Two analysers, each a frozen vocabulary (``backend/retrieval/lexical.py`` versions them):

- ``en1``, :func:`english_terms`: the first release's English analysis (Snowball English stems, an
  English stop list, ``\\w+`` runs), kept byte for byte so collections indexed with it keep serving
  until they are re-indexed.
- ``ml2``, :class:`MultilingualAnalyzer`: stems and stop words of the text's own language (detected
  per chunk at ingestion and per question at search: backend/text/languages.py), CJK text split
  into overlapping character bigrams, diacritics folded after stemming on both sides.
  ``ml3`` analyses as ``ml2`` does; only where IDF is counted changed (per knowledge base).

Kept from ``en1`` in both: identifiers stay whole *and* give their parts ("x-api-key", "x", "api",
"key"; "v3.11"), numbers are terms ("error 404", "45 days").

Why not Qdrant's own BM25 (``qdrant_edge.Bm25`` with the Multilingual tokenizer, the same analysis
the server's ``Bm25Config`` runs)? Measured here on the pinned qdrant-edge-py 0.9: it drops every
number ("11", "2024" give no term), keeps "v3.11" only as "v3", splits "x-api-key" and "foo_bar"
into parts only, and leaves mixed-script runs unsplit ("aptitudeの基本的な使い方" gives two terms,
the Japanese part as one). Its stemmers and stop lists are the same Snowball ones used here.

Why bigrams for Chinese, Japanese and Korean rather than a dictionary segmenter (jieba, MeCab via
fugashi, Sudachi, Lindera)? Overlapping bigrams are what Lucene's CJKAnalyzer and Elasticsearch's
``cjk_bigram`` do: no dictionary to ship or keep current (the segmenters' dictionaries are 20–70 MB,
and jieba's last release is from 2020), one rule for three languages and for mixed text, and for
retrieval they match word segmentation closely; a query word is found inside any compound. Japanese
hiragana runs (particles and inflections: の, は, について) are dropped as stop words; kanji and
katakana carry the content.

Stop lists: English is the ``en1`` list (short, so "not" or "how" in a support question still
count); the others are the Snowball lists bm25s ships (already a dependency).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

import bm25s.stopwords as bm25s_stopwords
import snowballstemmer

# -- en1: the first release's analysis, unchanged ------------------------------------------------
_EN1_TOKEN = re.compile(r"\w+(?:[.\-_/:]\w+)*", re.UNICODE)
_PARTS = re.compile(r"[.\-_/:]")
ENGLISH_STOPWORDS = frozenset(
    (
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "how", "i",
        "if", "in", "into", "is", "it", "its", "of", "on", "or", "our", "so", "than", "that", "the",
        "their", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when",
        "where", "which", "who", "why", "will", "with", "you", "your",
    )
)  # fmt: skip
_english = snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def _en1_stem(word: str) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    return str(_english.stemWord(word))


def english_terms(text: str) -> list[str]:
    """``en1``: lower-cased English stems, whole identifiers plus their parts, stop words dropped."""
    normalised = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    for match in _EN1_TOKEN.finditer(normalised):
        token = match.group()
        if token not in ENGLISH_STOPWORDS:
            out.append(_en1_stem(token))
        if _PARTS.search(token):
            out.extend(
                _en1_stem(p) for p in _PARTS.split(token) if p and p not in ENGLISH_STOPWORDS and p != token
            )
    return out


# -- ml2: per-language analysis ----------------------------------------------------------------------
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_HIRAGANA = "\u3041-\u309f"
_KATAKANA = "\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"  # not U+30FB, the katakana middle dot
_HANGUL = "\u1100-\u11ff\u3131-\u318e\uac00-\ud7af"
_CJK = _HAN + _HIRAGANA + _KATAKANA + _HANGUL
_ML2_TOKEN = re.compile(
    rf"(?P<han>[{_HAN}]+)|(?P<hiragana>[{_HIRAGANA}]+)|(?P<katakana>[{_KATAKANA}]+)|(?P<hangul>[{_HANGUL}]+)"
    rf"|(?P<word>[^\W{_CJK}]+(?:[.\-_/:][^\W{_CJK}]+)*)"
)

SNOWBALL = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "hu": "hungarian",
    "id": "indonesian", "it": "italian", "lt": "lithuanian", "nl": "dutch", "no": "norwegian",
    "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sv": "swedish",
    "ta": "tamil", "tr": "turkish",
}  # fmt: skip
"""ISO 639-1 → the Snowball stemmer for it."""

_STOPWORDS: dict[str, frozenset[str]] = {
    "en": ENGLISH_STOPWORDS,
    **{
        code: frozenset(getattr(bm25s_stopwords, f"STOPWORDS_{name}"))
        for code, name in {
            "da": "DANISH", "de": "GERMAN", "es": "SPANISH", "fr": "FRENCH", "it": "ITALIAN",
            "ko": "KOREAN", "nl": "DUTCH", "no": "NORWEGIAN", "pt": "PORTUGUESE", "ru": "RUSSIAN",
            "sv": "SWEDISH", "tr": "TURKISH", "zh": "CHINESE",
        }.items()
    },
}  # fmt: skip
DEFAULT_LANGUAGE = "en"
"""A chunk whose language cannot be told (code, a table of numbers) is analysed as English."""


class _Stemmers:
    """One Snowball stemmer per language, created on first use. A Snowball stemmer keeps state while
    it works, so each is used under its own lock (stems are cached, so the lock is rarely taken)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stemmers: dict[str, tuple[threading.Lock, snowballstemmer.stemmer]] = {}

    def stem(self, language: str, word: str) -> str:
        name = SNOWBALL.get(language)
        if name is None:
            return word
        with self._lock:
            entry = self._stemmers.get(name)
            if entry is None:
                entry = self._stemmers[name] = (threading.Lock(), snowballstemmer.stemmer(name))
        lock, stemmer = entry
        with lock:
            return str(stemmer.stemWord(word))


_stemmers = _Stemmers()


def _fold(term: str) -> str:
    """Diacritics removed ("rückerstattung" → "ruckerstattung"), so a question typed without accents
    finds the text typed with them; applied after stemming, which reads them."""
    if term.isascii():
        return term
    decomposed = unicodedata.normalize("NFKD", term)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=400_000)
def _stem(language: str, word: str) -> str:
    if len(word) < 4 or not word.isalpha():
        return _fold(word)
    return _fold(_stemmers.stem(language, word))


def _bigrams(run: str) -> Iterator[str]:
    if len(run) == 1:
        yield run
    for i in range(len(run) - 1):
        yield run[i : i + 2]


class MultilingualAnalyzer:
    """``ml2``: document terms in the chunk's language, query terms in each language asked for."""

    def document_terms(self, text: str, language: str | None) -> list[str]:
        """Terms of a stored chunk, analysed in ``language`` (None: :data:`DEFAULT_LANGUAGE`)."""
        return [term for group in self._groups(text, (language or DEFAULT_LANGUAGE,)) for term in group]

    def query_words(self, text: str, languages: Iterable[str]) -> list[frozenset[str]]:
        """Per word of a question, its terms in each of ``languages`` (its own and the knowledge
        base's), so it meets a chunk in whichever of them that chunk was analysed."""
        wanted = tuple(dict.fromkeys(languages)) or (DEFAULT_LANGUAGE,)
        return list(dict.fromkeys(frozenset(group) for group in self._groups(text, wanted)))

    def _groups(self, text: str, languages: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        """One tuple per word (or CJK bigram): its distinct terms across ``languages``."""
        stop = frozenset().union(*(_STOPWORDS.get(lang, frozenset()) for lang in languages))
        normalised = unicodedata.normalize("NFKC", text).lower()
        for match in _ML2_TOKEN.finditer(normalised):
            kind, token = match.lastgroup, match.group()
            if kind == "hiragana":
                continue
            if kind != "word":
                yield from ((gram,) for gram in _bigrams(token) if gram not in stop)
                continue
            words = [token] if token not in stop else []
            if _PARTS.search(token):
                words += [p for p in _PARTS.split(token) if p and p != token and p not in stop]
            for word in words:
                yield tuple(dict.fromkeys(_stem(lang, word) for lang in languages))
