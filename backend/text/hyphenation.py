"""Undo typesetting's line-break hyphenation before text is encoded or matched.

Text copied out of man pages, PDFs and e-books keeps the hyphens a typesetter put where it broke a
word across lines: groff writes ``certifi‐ cate`` (U+2010 HYPHEN, then the line break that became a
space), word processors leave soft hyphens (U+00AD) inside words. Neither the encoder nor the keyword
index knows ``certifi`` or ``cate``: measured on the shared manpages set, 301 of its 1,160 questions
carry such breaks (docs/benchmarks.md, issue #15), and they were most of the answerable questions the
confidence gate refused.

Only the two characters that mark a *typographic* break are joined. A plain ``-`` followed by a line
break stays: ``self-\\ncontained`` is a compound as often as ``infor-\\nmation`` is a broken word, and
guessing wrong would corrupt identifiers and flags. A suspended hyphen (``pre‐ and post‐processing``)
is kept by not joining onto a following conjunction.
"""

from __future__ import annotations

import re

SOFT_HYPHEN = "\u00ad"
_BROKEN = re.compile(r"(?<=[^\W\d_])(?:\u2010(?=\s)|\u00ad)[ \t]*(?:\r?\n)?[ \t]*(?=[^\W\d_])")
"""A letter; U+2010 followed by a space or line break (``x‐ray`` is a real hyphen and stays) or U+00AD;
blanks and at most one line break; a letter."""
_SUSPENDED = frozenset({"and", "or", "to", "und", "oder", "et", "ou", "y", "o"})
"""Words after which a hyphen is a suspended compound (``pre‐ and post‐``), not a broken word."""
_NEXT_WORD = re.compile(r"[^\W\d_]+")


def join_broken_words(text: str) -> str:
    """``text`` with typographic line-break hyphens joined (``certifi‐ cate`` → ``certificate``) and
    stray soft hyphens removed. Cheap when there are none: one ``in`` test per character class."""
    if "\u2010" not in text and SOFT_HYPHEN not in text:
        return text

    def join(match: re.Match[str]) -> str:
        following = _NEXT_WORD.match(text, match.end())
        if following and following.group().lower() in _SUSPENDED:
            return match.group()
        return ""

    return _BROKEN.sub(join, text).replace(SOFT_HYPHEN, "")
