"""Bytes → text in whatever common encoding the file uses; binary junk is refused with a clear error."""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

from backend.errors import EmptyContent, UnsupportedFormat

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode_text(data: bytes, *, name: str = "the file") -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding).replace("\r\n", "\n")
    if b"\x00" in data[:8192]:
        raise UnsupportedFormat(f"{name} looks binary (it contains NUL bytes); upload text, Markdown or HTML")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        if best is None:
            raise UnsupportedFormat(
                f"cannot tell the text encoding of {name}; save it as UTF-8 and upload again"
            ) from None
        text = str(best)
    if not text.strip():
        raise EmptyContent(f"{name} has no text to index")
    return text.replace("\r\n", "\n").replace("\r", "\n")
