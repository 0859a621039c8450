"""Loaders: structure found by real parsers, boilerplate dropped, encodings handled, junk refused."""

from __future__ import annotations

import pytest

from backend.catalog.formats import FORMATS, detect_format
from backend.errors import EmptyContent, UnsupportedFormat
from ingest.loaders import LOADERS, parse
from tests.fixtures_docs import BILLING_HTML, GUIDE_MD


def _sections(doc):
    return [(s.heading, doc.text[s.start : s.end]) for s in doc.sections]


def test_every_accepted_format_has_a_loader() -> None:
    assert set(LOADERS) == set(FORMATS)


def test_markdown_sections_and_code_blocks() -> None:
    doc = parse(GUIDE_MD, format="markdown", name="guide.md")
    assert doc.title == "Acme Router Guide"
    headings = [h for h, _ in _sections(doc)]
    assert headings == [
        ("Acme Router Guide", "Installing the router"),
        ("Acme Router Guide", "Resetting the admin password"),
        ("Acme Router Guide", "Updating the firmware"),
    ]
    reset = _sections(doc)[1][1]
    assert "# this is a comment in a code block" in reset  # not taken for a heading
    assert doc.text == GUIDE_MD.decode()  # offsets point into the uploaded file


def test_markdown_setext_headings_and_text_before_the_first_heading() -> None:
    doc = parse(
        b"Preamble line.\n\nTitle\n=====\n\nBody.\n\nSub\n---\n\nMore.", format="markdown", name="x.md"
    )
    assert _sections(doc) == [((), "Preamble line."), (("Title",), "Body."), (("Title", "Sub"), "More.")]


def test_html_main_content_only() -> None:
    doc = parse(BILLING_HTML, format="html", name="billing.html")
    assert doc.title == "Billing FAQ"
    text = doc.text
    assert (
        "Home" not in text and "tracking" not in text and "Copyright" not in text and "color:red" not in text
    )
    sections = dict(_sections(doc))
    assert "five to ten business days" in sections[("Billing", "Refunds")]
    assert "Visa and Mastercard\n\nSEPA direct debit" in sections[("Billing", "Payment methods")]


def test_html_broken_markup_and_pre() -> None:
    html = b"<body><h2>Code<p>Run this:<pre>  indented\n    more</pre><p>Unclosed <b>bold"
    doc = parse(html, format="html", name="x.html")
    assert "  indented\n    more" in doc.text
    assert "Unclosed bold" in doc.text


@pytest.mark.parametrize(
    "data",
    [
        "Grüße aus Köln und Zürich, schöne Straße".encode("cp1252"),
        "Ceci est un résumé".encode("utf-16"),
        "\ufeffUTF-8 with a byte order mark".encode(),
    ],
)
def test_text_encodings(data: bytes) -> None:
    doc = parse(data, format="text", name="x.txt")
    assert doc.text.strip() and "\ufeff" not in doc.text
    assert any(word in doc.text for word in ("Grüße", "résumé", "UTF-8"))


def test_junk_and_empty_are_refused_clearly() -> None:
    with pytest.raises(UnsupportedFormat, match="binary"):
        parse(b"\x00\x01\x02" * 100, format="text", name="x.txt")
    with pytest.raises(EmptyContent):
        parse(b"   \n\t ", format="text", name="x.txt")
    with pytest.raises(EmptyContent):
        parse(b"<html><script>only()</script></html>", format="html", name="x.html")


def test_format_detection() -> None:
    assert detect_format("a.MD", "application/octet-stream") == "markdown"
    assert detect_format(None, "text/html; charset=utf-8") == "html"
    assert detect_format("notes", "text/plain") == "text"
    with pytest.raises(UnsupportedFormat, match=r"\.txt"):
        detect_format("a.key", "application/octet-stream")  # Keynote: not read
