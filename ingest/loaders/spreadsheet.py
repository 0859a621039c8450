"""XLSX and ODS: each sheet a table — its first non-empty row the header, every other row one line
``column: value; …`` citing its sheet and row number (as the spreadsheet numbers them).

XLSX is read with openpyxl in read-only mode (rows streamed, cached formula values, no formulas
evaluated); ODS is OpenDocument XML read with lxml (entities off), its repeated rows and columns (a
sheet may declare a million empty trailing rows) expanded only where they hold something. Both are
archives checked before they are opened.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime, time

from lxml import etree

from backend.errors import EmptyContent, InvalidInput
from ingest.loaders.archive import ODF, open_archive, read_xml
from ingest.loaders.base import ParsedDocument
from ingest.loaders.located import LocatedBuilder
from ingest.loaders.tabular import header_of, row_line

MAX_ROWS = 200_000
MAX_COLUMNS = 1000
MAX_REPEAT = 1000
"""A non-empty row or cell repeated more than this is kept this many times (a template's fill)."""
Sheet = tuple[str, Iterator[tuple[int, list[str]]]]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes").removesuffix(" 00:00")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _xlsx_sheets(data: bytes, name: str) -> Iterator[Sheet]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for broken packages
        raise InvalidInput(
            f"{name} is not a readable XLSX ({exc.__class__.__name__}); save it again"
        ) from None
    for sheet in book.worksheets:
        rows = (
            (number, [_cell(v) for v in values[:MAX_COLUMNS]])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        )
        yield sheet.title, rows


def _ods_sheets(data: bytes, name: str) -> Iterator[Sheet]:
    with open_archive(data, name=name, kind="ODS") as archive:
        root = read_xml(archive, "content.xml", name=name)
    for table in root.iter(f"{{{ODF['table']}}}table"):
        yield table.get(f"{{{ODF['table']}}}name") or "Sheet", _ods_rows(table)


def _repeat(element: etree._Element, attribute: str) -> int:
    raw = element.get(f"{{{ODF['table']}}}{attribute}", "1")
    return int(raw) if raw.isdigit() else 1


def _ods_rows(table: etree._Element) -> Iterator[tuple[int, list[str]]]:
    number = 0
    for row in table.iter(f"{{{ODF['table']}}}table-row"):
        cells: list[str] = []
        empties = 0  # empty cells are placed only once a filled one follows (trailing ones cost nothing)
        for cell in row:
            if etree.QName(cell).localname not in ("table-cell", "covered-table-cell"):
                continue
            text = "\n".join("".join(p.itertext()) for p in cell.iter(f"{{{ODF['text']}}}p"))
            times = _repeat(cell, "number-columns-repeated")
            if not text.strip():
                empties += times
                continue
            cells.extend([""] * min(empties, MAX_COLUMNS - len(cells)))
            cells.extend([text] * min(times, MAX_COLUMNS - len(cells)))
            empties = 0
            if len(cells) >= MAX_COLUMNS:
                break
        times = _repeat(row, "number-rows-repeated")
        if not any(c.strip() for c in cells):
            number += times  # empty rows count for numbering, cost nothing
            continue
        for _ in range(min(times, MAX_REPEAT)):
            number += 1
            yield number, cells
        number += max(0, times - MAX_REPEAT)


def load_sheets(sheets: Iterator[Sheet], *, name: str, title: str | None = None) -> ParsedDocument:
    builder = LocatedBuilder()
    total = 0
    for sheet_name, rows in sheets:
        header: list[str] | None = None
        for number, cells in rows:
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = header_of(cells)
                builder.section((sheet_name, " | ".join(header)))
                continue
            total += 1
            if total > MAX_ROWS:
                raise InvalidInput(f"{name} has more than {MAX_ROWS:,} rows; the limit is {MAX_ROWS:,}")
            builder.line(row_line(header, cells), {"sheet": sheet_name, "row": number})
    parsed = builder.build(title=title)
    if not parsed.sections:
        raise EmptyContent(f"{name} has no sheet with a header and rows")
    return parsed


def load_xlsx(data: bytes, *, name: str) -> ParsedDocument:
    open_archive(data, name=name, kind="XLSX").close()
    return load_sheets(_xlsx_sheets(data, name), name=name)


def load_ods(data: bytes, *, name: str) -> ParsedDocument:
    return load_sheets(_ods_sheets(data, name), name=name)
