"""Tables as text a passage can stand on: each row one line, ``column: value; …``, so a row reads as a
statement and the header travels with it (as the CSV loader does: the header is also the section's
heading, which the chunker puts in front of every chunk)."""

from __future__ import annotations

from collections.abc import Sequence


def header_of(first_row: Sequence[str]) -> list[str]:
    return [cell.strip() or f"column {i + 1}" for i, cell in enumerate(first_row)]


def row_line(header: Sequence[str], row: Sequence[str]) -> str:
    """``"sku: R-200; product: Acme Router"``: empty cells skipped, extra cells named by position."""
    return "; ".join(
        f"{header[i] if i < len(header) else f'column {i + 1}'}: {value.strip()}"
        for i, value in enumerate(row)
        if value and value.strip()
    )


def table_block(rows: Sequence[Sequence[str]]) -> str:
    """A small table inside a document (DOCX, slides): its first row as header, the rest as lines.
    A single row (or a header only) stays as ``a | b | c``."""
    kept = [[c.strip() for c in row] for row in rows if any(c.strip() for c in row)]
    if len(kept) < 2:
        return "\n".join(" | ".join(row) for row in kept)
    header = header_of(kept[0])
    return "\n".join(line for line in (row_line(header, row) for row in kept[1:]) if line)
