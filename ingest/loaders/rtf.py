"""RTF: its text with striprtf (pure Python; control words, groups and escapes handled), then paragraphs
as plain text is read. RTF carries no dependable heading structure, so none is guessed."""

from __future__ import annotations

from striprtf.striprtf import rtf_to_text

from backend.errors import InvalidInput
from ingest.loaders.base import ParsedDocument
from ingest.loaders.plain_text import load_text


def load_rtf(data: bytes, *, name: str) -> ParsedDocument:
    if not data.lstrip().startswith(b"{\\rtf"):
        raise InvalidInput(
            f"{name} is not an RTF document (it must start with {{\\rtf); save it again as RTF"
        )
    raw = data.decode("cp1252", errors="replace")  # RTF is 7-bit; \\'hh escapes carry the code page's bytes
    try:
        text: str = rtf_to_text(raw, errors="replace")  # type: ignore[no-untyped-call]  # striprtf is untyped
    except (ValueError, IndexError) as exc:
        raise InvalidInput(f"{name} is not readable RTF ({exc})") from None
    return load_text(text.encode("utf-8"), name=name)
