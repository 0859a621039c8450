"""CSV and TSV: one line per row, each rendered ``column: value; …`` so a row reads as a statement,
with the header as the section heading. The chunker then groups rows, cutting between them, and every
chunk is embedded with the header in front of it: the header repeats in every chunk."""

from __future__ import annotations

import csv
import io

from backend.errors import EmptyContent, InvalidInput
from ingest.loaders.base import Anchor, ParsedDocument, Section
from ingest.loaders.decoding import decode_text

MAX_ROWS = 200_000


def load_table(data: bytes, *, name: str, delimiter: str | None = None) -> ParsedDocument:
    text = decode_text(data, name=name)
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    try:
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise InvalidInput(f"{name} is not valid CSV ({exc})") from None
    if len(rows) < 2:
        raise EmptyContent(f"{name} has a header but no rows (or nothing at all)")
    if len(rows) > MAX_ROWS:
        raise InvalidInput(f"{name} has {len(rows):,} rows; the limit is {MAX_ROWS:,}")
    header = [h.strip() or f"column {i + 1}" for i, h in enumerate(rows[0])]
    lines: list[str] = []
    anchors: list[Anchor] = []
    length = 0
    for number, row in enumerate(rows[1:], start=2):  # numbered as in a spreadsheet: header is row 1
        line = "; ".join(
            f"{header[i] if i < len(header) else f'column {i + 1}'}: {v.strip()}"
            for i, v in enumerate(row)
            if v.strip()
        )
        if lines:
            length += 1
        anchors.append(Anchor(length, length + len(line), {"row": number}))
        lines.append(line)
        length += len(line)
    body = "\n".join(lines)
    return ParsedDocument(body, [Section(0, len(body), (" | ".join(header),))], anchors=anchors)


def load_tsv(data: bytes, *, name: str) -> ParsedDocument:
    return load_table(data, name=name, delimiter="\t")
