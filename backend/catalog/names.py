"""Names people give things, made safe once: display names, file names, folder names, contained paths.

A name is normalised to Unicode NFC, so "é" typed two ways is one name. Where names must be unique
(knowledge bases), invisible characters (zero-width spaces and joiners, bidirectional controls, other
format characters) and control characters are refused: two names that look the same must be the
same name. A file name keeps only its last path component. A name that becomes part of a path on
disk is a plain folder name, and the path is checked to stay inside its root before it is used.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from backend.errors import InvalidInput

_FOLDER = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") and char not in "\t"


def display_name(value: str, *, what: str, max_chars: int = 200) -> str:
    """``value`` NFC-normalised and trimmed; InvalidInput when it is empty, too long, or holds
    control or invisible characters."""
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise InvalidInput(f"the {what} is empty; give it a name")
    if len(name) > max_chars:
        raise InvalidInput(f"the {what} is {len(name)} characters; the limit is {max_chars}")
    hidden = next((c for c in name if _hidden(c)), None)
    if hidden is not None:
        raise InvalidInput(
            f"the {what} contains an invisible or control character (U+{ord(hidden):04X}); names that "
            "look alike must be alike, so remove it"
        )
    return name


def file_name(value: str | None, *, default: str = "upload") -> str:
    """A client's file name for display and format detection: its last path component (``/`` or
    ``\\``), NFC, without control or invisible characters, at most 255 characters."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", value or ""))[-1]
    base = "".join(c for c in base if not _hidden(c)).strip()
    return base[-255:] if base not in ("", ".", "..") else default


def folder_name(value: str, *, what: str) -> str:
    """``value`` when it can name a folder by itself: letters, digits, ``.``, ``_``, ``-``, not dots alone."""
    if not _FOLDER.match(value) or set(value) == {"."}:
        raise InvalidInput(
            f"the {what} {value[:100]!r} is not a plain name: use 1-100 letters, digits, '.', '_' or '-', "
            "not dots alone"
        )
    return value


def contained(root: Path, *parts: str) -> Path:
    """``root/parts…`` resolved, or InvalidInput when it would leave ``root`` (``..``, a link, an
    absolute part)."""
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and base not in path.parents:
        raise InvalidInput(f"{'/'.join(parts)[:200]!r} would lead outside {base}; use a plain name")
    return path
