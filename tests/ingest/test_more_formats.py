"""PPTX, XLSX, ODS, EPUB, ODT, RTF, JSON and JSONL: structure kept, every passage citing its slide,
sheet and row, chapter or record; hostile and broken files fail alone with a reason. Files are
generated here (tests/fixtures_formats.py), none committed."""

from __future__ import annotations

import io
import zipfile

import pytest

from backend.catalog.formats import detect_format
from backend.errors import EmptyContent, InvalidInput
from ingest.chunking import Chunker
from ingest.loaders import parse
from tests.fixtures_formats import (
    JSON_FAQ,
    JSONL,
    RTF,
    make_epub,
    make_ods,
    make_odt,
    make_pptx,
    make_xlsx,
)


@pytest.fixture(scope="module")
def chunker(embedder) -> Chunker:
    return Chunker(embedder.tokenizer, max_tokens=embedder.max_tokens)


def _sections(doc) -> dict[tuple[str, ...], str]:
    return {s.heading: doc.text[s.start : s.end] for s in doc.sections}


def test_pptx_slides_titles_tables_and_notes(chunker: Chunker) -> None:
    doc = parse(make_pptx(), format="pptx", name="training.pptx")
    assert doc.title == "Router training"
    assert _sections(doc) == {
        ("Resetting the router",): "Hold the reset button for ten seconds.\n"
        "Speaker notes: Remind people that settings are lost.",
        ("Warranty by region",): "Region: EU; Period: 3 years\nRegion: US; Period: 1 year",
        ("Questions",): "Questions",  # a title-only slide is still findable
    }
    assert [c.location for c in chunker.split(doc)] == [{"slide": 1}, {"slide": 2}, {"slide": 3}]


def test_xlsx_sheets_become_tables_citing_sheet_and_row(chunker: Chunker) -> None:
    doc = parse(make_xlsx(), format="xlsx", name="prices.xlsx")
    assert _sections(doc) == {
        ("Prices", "sku | product | price"): "sku: R-100; product: Acme Router Mini; price: 49\n"
        "sku: R-200; product: Acme Router Pro; price: 129.5",
        ("Stock", "sku | warehouse | units"): "sku: R-100; warehouse: Leeds; units: 12",
    }
    chunks = chunker.split(doc)
    assert [c.location for c in chunks] == [
        {"sheet": "Prices", "row": 2, "row_end": 4},  # the empty row 3 is skipped, numbers kept
        {"sheet": "Stock", "row": 2},
    ]
    assert chunks[0].context.endswith("Prices > sku | product | price")


def test_ods_repeated_cells_keep_columns_and_an_empty_tail_costs_nothing() -> None:
    doc = parse(make_ods(), format="ods", name="plans.ods")
    body = _sections(doc)[("Plans", "plan | column 2 | column 3 | price")]
    assert body.splitlines() == ["plan: Starter; price: 9 EUR"] + ["plan: Filler; price: 0 EUR"] * 3
    assert doc.locate(0, 5) == {"sheet": "Plans", "row": 2}
    huge = parse(make_ods(repeated_rows=5_000_000), format="ods", name="filler.ods")
    assert len(huge.text.splitlines()) == 1 + 1000  # a repeated row is kept at most 1,000 times


def test_odt_headings_lists_and_tables() -> None:
    doc = parse(make_odt(), format="odt", name="returns.odt")
    assert doc.title == "Returns policy"
    assert _sections(doc) == {
        ("Returns",): "Unworn shoes may be returned within 45 days.",
        ("Returns", "Refunds"): "Refunds reach the card in 5 days.\n\nItem: Sale; Window: exchange only",
    }


@pytest.mark.parametrize("version", [3, 2])
def test_epub_chapters_in_spine_order_titled_by_the_table_of_contents(chunker: Chunker, version: int) -> None:
    doc = parse(make_epub(version), format="epub", name="kettle.epub")
    assert doc.title == "The kettle book"
    assert list(_sections(doc)) == [
        ("Care and cleaning", "Descaling"),
        ("Care and cleaning", "Descaling", "Details"),
        ("Getting started", "Unpacking"),
        ("Getting started", "Unpacking", "Details"),
    ]
    assert {c.location["chapter"] for c in chunker.split(doc)} == {1, 2}


def test_rtf_text_with_its_escapes() -> None:
    doc = parse(RTF, format="rtf", name="lids.rtf")
    assert "Spare lids cost 4 euros" in doc.text and "Café machines are not covered" in doc.text
    with pytest.raises(InvalidInput, match="not an RTF"):
        parse(b"plain words", format="rtf", name="fake.rtf")


def test_json_records_prose_as_text_the_rest_as_fields(chunker: Chunker) -> None:
    doc = parse(JSON_FAQ, format="json", name="faq.json")
    assert _sections(doc) == {
        ("How long do refunds take?",): "Refunds reach the card within 5 business days.\n"
        "id: 7; category: billing; tags: refund, card",
        ("Do you ship to Norway?",): "Yes, in 3 to 5 days.\nid: 8; meta.updated: 2026-11-02",
    }
    assert [c.location for c in chunker.split(doc)] == [{"record": 1}, {"record": 2}]
    lines = parse(JSONL, format="jsonl", name="notes.jsonl")
    assert lines.locate(0, 5) == {"record": 1} and lines.locate(len(lines.text) - 3, len(lines.text)) == {
        "record": 3
    }
    with pytest.raises(InvalidInput, match=r"notes.jsonl line 2 is not valid JSON"):
        parse(b'{"text": "fine"}\n{broken\n', format="jsonl", name="notes.jsonl")
    with pytest.raises(InvalidInput, match="nested too deeply"):
        parse(b"[" * 100_000 + b"]" * 100_000, format="json", name="deep.json")
    with pytest.raises(EmptyContent, match="no record with text"):
        parse(b'[{}, {"tags": []}]', format="json", name="empty.json")


def _bomb(first: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(first, b"\0" * (300 * 1024 * 1024))
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "member"),
    [
        ("pptx", "ppt/presentation.xml"),
        ("xlsx", "xl/workbook.xml"),
        ("ods", "content.xml"),
        ("odt", "content.xml"),
        ("epub", "META-INF/container.xml"),
    ],
)
def test_zip_bombs_and_junk_are_refused(fmt: str, member: str) -> None:
    with pytest.raises(InvalidInput, match="zip bomb"):
        parse(_bomb(member), format=fmt, name=f"bomb.{fmt}")
    with pytest.raises(InvalidInput, match="not a valid"):
        parse(b"PK\x03\x04 not a zip", format=fmt, name=f"junk.{fmt}")
    empty_zip = io.BytesIO()
    zipfile.ZipFile(empty_zip, "w").close()
    with pytest.raises(InvalidInput):
        parse(empty_zip.getvalue(), format=fmt, name=f"empty.{fmt}")


def test_the_new_extensions_and_types_are_detected() -> None:
    assert [
        detect_format(f"x.{e}", None) for e in ("pptx", "xlsx", "ods", "epub", "odt", "rtf", "json", "ndjson")
    ] == ["pptx", "xlsx", "ods", "epub", "odt", "rtf", "json", "jsonl"]
    assert detect_format(None, "application/epub+zip") == "epub"


def test_uploaded_slides_and_sheets_are_found_with_their_locations(client) -> None:
    from tests.conftest import create_kb, ingest

    kb_id = create_kb(client)
    ingest(
        client,
        kb_id,
        [
            ("prices.xlsx", make_xlsx(), "application/octet-stream"),
            ("training.pptx", make_pptx(), "application/octet-stream"),
        ],
    )
    search = f"/v1/knowledge-bases/{kb_id}/search"
    top = client.post(search, json={"query": "how many R-100 units are in Leeds", "top_k": 1}).json()[
        "results"
    ][0]
    assert "warehouse: Leeds" in top["text"] and top["location"] == {"sheet": "Stock", "row": 2}
    top = client.post(search, json={"query": "how long to hold the reset button", "top_k": 1}).json()[
        "results"
    ][0]
    assert "ten seconds" in top["text"] and top["location"] == {"slide": 1}
