"""Office documents and e-books are zip archives: checked before anything is opened.

The central directory declares every member's uncompressed size; a file that would expand past
``MAX_UNCOMPRESSED``, or more than ``MAX_RATIO`` times its own size, or that holds more than
``MAX_MEMBERS`` files, fails that document with a clear reason instead of exhausting the worker (the
parser's child process has a memory cap too; this catches it before the first byte is inflated).
"""

from __future__ import annotations

import io
import zipfile

from lxml import etree

from backend.errors import InvalidInput

MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 200
MAX_MEMBERS = 20_000
XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False
)
"""For XML inside archives (OpenDocument, EPUB): no entity expansion, no network, no huge trees."""
ODF = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
}
"""OpenDocument's XML namespaces (ODT and ODS loaders)."""


def open_archive(data: bytes, *, name: str, kind: str) -> zipfile.ZipFile:
    """The archive, once its declared sizes are within limits; ``kind`` names the format in errors."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidInput(f"{name} is not a valid {kind} (not a zip archive); save it again") from None
    members = archive.infolist()
    total = sum(info.file_size for info in members)
    if len(members) > MAX_MEMBERS:
        raise InvalidInput(f"{name} holds {len(members):,} files; the limit is {MAX_MEMBERS:,}")
    if total > MAX_UNCOMPRESSED or total > MAX_RATIO * max(len(data), 1):
        raise InvalidInput(
            f"{name} expands to {total:,} bytes from {len(data):,}; refusing a possible zip bomb"
        )
    return archive


def read_xml(archive: zipfile.ZipFile, member: str, *, name: str) -> etree._Element:
    try:
        return etree.fromstring(archive.read(member), XML_PARSER)
    except KeyError:
        raise InvalidInput(f"{name} has no {member}; it is not a complete document") from None
    except (etree.XMLSyntaxError, zipfile.BadZipFile, ValueError) as exc:
        raise InvalidInput(f"{name}: {member} is not readable ({exc})") from None
