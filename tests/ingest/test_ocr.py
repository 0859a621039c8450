"""OCR of scans and images, on the real engine (the ``ocr`` extra): a clean 200 dpi page read at
≥ 95 % character accuracy, a scanned PDF and a PNG searchable with their pages, a mixed PDF OCR'd on
its scanned page only, and hostile images (too large, no text, not an image) failing alone."""

from __future__ import annotations

import io
import logging

import pytest

from backend.errors import EmptyContent, InvalidInput
from ingest.isolation import IsolatedParser
from ingest.loaders import parse
from tests.fixtures_formats import (
    SCAN_TEXT,
    char_accuracy,
    image_bytes,
    make_pdf,
    mixed_pdf,
    png_header,
    render_page,
    scanned_pdf,
)

TRUTH = "\n".join(SCAN_TEXT)


def test_a_clean_scan_is_read_at_95_percent_character_accuracy() -> None:
    doc = parse(image_bytes(render_page(SCAN_TEXT)), format="png", name="policy.png")
    assert char_accuracy(doc.text, TRUTH) >= 0.95, doc.text
    assert "\n\n" in doc.text  # the blank line between paragraphs is kept: the chunker may cut there


def test_a_scanned_pdf_cites_its_pages_and_a_tiff_its_frames() -> None:
    pages = [render_page(SCAN_TEXT[:3]), render_page(SCAN_TEXT[4:])]
    doc = parse(scanned_pdf(pages), format="pdf", name="scan.pdf")
    assert doc.locate(0, 10) == {"page": 1} and doc.locate(len(doc.text) - 5, len(doc.text)) == {"page": 2}
    assert "Leeds" in doc.text and "help@example.com" in doc.text
    out = io.BytesIO()
    first, rest = render_page(SCAN_TEXT[:3]), [render_page(SCAN_TEXT[4:])]  # fresh: no PDF save state
    first.save(out, "TIFF", save_all=True, append_images=rest, compression="tiff_deflate")
    tiff = parse(out.getvalue(), format="tiff", name="scan.tiff")
    assert tiff.locate(len(tiff.text) - 5, len(tiff.text)) == {"page": 2}


def test_a_mixed_pdf_reads_only_its_scanned_page_by_ocr(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ingest.loaders.pdf"):
        doc = parse(
            mixed_pdf("The text layer says: kettles boil fast.", render_page(SCAN_TEXT)),
            format="pdf",
            name="m.pdf",
        )
    assert doc.text.startswith("The text layer says: kettles boil fast.")
    assert "warehouse in Leeds" in doc.text and doc.locate(len(doc.text) - 5, len(doc.text)) == {"page": 2}
    assert "m.pdf: OCR read 1 of 2 pages" in caplog.text
    plain = make_pdf(["Only text here."])
    with caplog.at_level(logging.INFO, logger="ingest.loaders.pdf"):
        caplog.clear()
        parse(plain, format="pdf", name="plain.pdf")
    assert "OCR" not in caplog.text  # the fast path stays fast


def test_hostile_images_fail_alone_with_reasons() -> None:
    with pytest.raises(InvalidInput, match=r"20,000 × 20,000 pixels; the limit is 50 megapixels"):
        parse(png_header(20_000, 20_000), format="png", name="huge.png")
    with pytest.raises(EmptyContent, match="no text was found"):
        parse(image_bytes(render_page([])), format="png", name="blank.png")
    with pytest.raises(InvalidInput, match="not a readable image"):
        parse(b"\x89PNG\r\n\x1a\n but not really", format="png", name="junk.png")


def test_a_password_protected_pdf_is_refused_clearly() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.add_page(PdfReader(io.BytesIO(make_pdf(["secret"]))).pages[0])
    writer.encrypt("hunter2")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(InvalidInput, match="password-protected"):
        parse(out.getvalue(), format="pdf", name="locked.pdf")


def test_ocr_runs_inside_the_capped_parser_process() -> None:
    parser = IsolatedParser(timeout_s=120, memory_mb=2048)
    try:
        doc = parser.parse(image_bytes(render_page(SCAN_TEXT), "JPEG"), format="jpeg", name="policy.jpg")
    finally:
        parser.close()
    assert char_accuracy(doc.text, TRUTH) >= 0.95


def test_scans_become_searchable_through_the_api(client) -> None:
    from tests.conftest import create_kb, ingest

    kb_id = create_kb(client)
    ingest(
        client,
        kb_id,
        [
            ("policy.png", image_bytes(render_page(SCAN_TEXT)), "image/png"),
            (
                "manual.pdf",
                scanned_pdf([render_page(["Descale the kettle every month with citric acid."])]),
                "application/pdf",
            ),
        ],
    )
    search = f"/v1/knowledge-bases/{kb_id}/search"
    top = client.post(search, json={"query": "where is the warehouse", "top_k": 1}).json()["results"][0]
    assert "Leeds" in top["text"] and top["title"] == "policy.png"
    top = client.post(search, json={"query": "how often to descale", "top_k": 1}).json()["results"][0]
    assert "citric acid" in top["text"] and top["location"] == {"page": 1}
