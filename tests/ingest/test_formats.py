"""PDF, DOCX, CSV/TSV and subtitles: structure and locations kept, hostile files refused clearly."""

from __future__ import annotations

import pytest

from backend.catalog.formats import detect_format
from backend.errors import EmptyContent, InvalidInput
from ingest.chunking import Chunker
from ingest.loaders import parse
from tests.fixtures_formats import CSV, SRT, TSV, VTT, make_docx, make_pdf, make_table_pdf, make_zip_bomb


@pytest.fixture(scope="module")
def chunker(embedder) -> Chunker:
    return Chunker(embedder.tokenizer, max_tokens=embedder.max_tokens)


def test_pdf_pages_become_citable_locations(chunker: Chunker) -> None:
    data = make_pdf(["Routers ship with a quick start guide.", "", "Hold reset for ten seconds."], "Manual")
    doc = parse(data, format="pdf", name="manual.pdf")
    assert doc.title == "Manual"
    chunks = chunker.split(doc)
    assert [(c.text, c.location) for c in chunks] == [
        ("Routers ship with a quick start guide.", {"page": 1}),
        ("Hold reset for ten seconds.", {"page": 3}),  # the empty page 2 is skipped, numbering kept
    ]


@pytest.mark.parametrize("data", [b"%PDF-1.4\n garbage", b"not a pdf at all", make_pdf(["x"])[:60]])
def test_broken_pdfs_fail_clearly(data: bytes) -> None:
    with pytest.raises((InvalidInput, EmptyContent), match=r"PDF|text layer"):
        parse(data, format="pdf", name="broken.pdf")


def test_docx_headings_and_tables() -> None:
    doc = parse(make_docx(), format="docx", name="w.docx")
    assert doc.title == "Warranty handbook"
    sections = {s.heading: doc.text[s.start : s.end] for s in doc.sections}
    assert "two years" in sections[("Warranty",)]
    assert "serial number" in sections[("Warranty", "Claims")]
    assert "Region: EU; Period: 3 years" in sections[("Warranty", "Claims")]  # the header in every row


def test_docx_zip_bomb_and_junk_are_refused() -> None:
    with pytest.raises(InvalidInput, match="zip bomb"):
        parse(make_zip_bomb(), format="docx", name="bomb.docx")
    with pytest.raises(InvalidInput, match="not a valid DOCX"):
        parse(b"PK\x03\x04 definitely not a zip", format="docx", name="junk.docx")


def test_csv_rows_carry_their_header(chunker: Chunker) -> None:
    doc = parse(CSV, format="csv", name="catalogue.csv")
    chunks = chunker.split(doc)
    assert len(chunks) == 1
    chunk = chunks[0]
    assert chunk.context.endswith("sku | product | price | stock")  # the header, in every chunk's context
    assert "sku: R-200; product: Acme Router Pro; price: 129 EUR; stock: 0" in chunk.text
    assert chunk.location == {"row": 2, "row_end": 4}
    small = Chunker(chunker.tokenizer, max_tokens=40, overlap_tokens=0).split(doc)
    assert len(small) > 1 and all("sku | product" in c.embedding_text for c in small)
    assert all(c.text.count("\n") + 1 == len(c.text.split("\n")) for c in small)
    tsv = parse(TSV, format="tsv", name="plans.tsv")
    assert "plan: Team; users: 25; price: 39 EUR" in tsv.text
    with pytest.raises(EmptyContent):
        parse(b"only,a,header\n", format="csv", name="empty.csv")


@pytest.mark.parametrize(("data", "fmt"), [(VTT, "vtt"), (SRT, "srt")])
def test_subtitles_keep_their_timestamps(chunker: Chunker, data: bytes, fmt: str) -> None:
    doc = parse(data, format=fmt, name=f"video.{fmt}")
    assert "<v" not in doc.text and "-->" not in doc.text
    location = chunker.split(doc)[0].location
    assert location["start_s"] == (1.0 if fmt == "vtt" else 0.5)
    assert location["end_s"] == (67.0 if fmt == "vtt" else 8.0)
    if fmt == "vtt":
        assert doc.text.startswith("Ana: Welcome")
    with pytest.raises(EmptyContent, match="cues"):
        parse(b"WEBVTT\n\njust text, no cues\n", format=fmt, name="empty")


def test_new_formats_are_detected() -> None:
    assert detect_format("a.PDF", None) == "pdf"
    assert (
        detect_format("x", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        == "docx"
    )
    assert [detect_format(f"f.{e}", None) for e in ("csv", "tsv", "vtt", "srt")] == [
        "csv",
        "tsv",
        "vtt",
        "srt",
    ]


def test_pdf_tables_keep_their_header_in_every_row(chunker: Chunker) -> None:
    doc = parse(make_table_pdf(), format="pdf", name="warranty.pdf")
    assert doc.text.splitlines() == [
        "Warranty periods differ by region, as listed below.",
        "Region: EU; Period: 3 years; Cover: parts and labour",
        "Region: US; Period: 1 year; Cover: parts",
        "Claims need the receipt and the serial number.",
    ]
    assert [c.location for c in chunker.split(doc)] == [{"page": 1}]
    plain = parse(make_pdf(["No drawing on this page, so no table search."]), format="pdf", name="p.pdf")
    assert plain.text == "No drawing on this page, so no table search."
