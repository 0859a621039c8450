"""Real files of every format, generated in the tests (no binary fixtures in the repository)."""

from __future__ import annotations

import io
import zipfile


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF, one Helvetica text line per page, with a correct xref table."""
    objects: list[bytes] = []
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(f"<< /Title ({title or ''}) >>".encode())
    return _pdf_file(objects, info=len(objects))


def _pdf_file(objects: list[bytes], *, info: int | None = None) -> bytes:
    """Objects numbered from 1 (1: the catalog), with a correct cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    info_ref = f" /Info {info} 0 R" if info else ""
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info_ref} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = "Warranty handbook"
    document.add_heading("Warranty", level=1)
    document.add_paragraph("Every router is covered for two years from the date of purchase.")
    document.add_heading("Claims", level=2)
    document.add_paragraph("To claim, email the serial number and a photo of the receipt to support.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Period"
    table.cell(1, 0).text, table.cell(1, 1).text = "EU", "3 years"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (300 * 1024 * 1024))  # 300 MB of zeros, ~300 KB zipped
    return out.getvalue()


CSV = (
    b"sku,product,price,stock\n"
    b"R-100,Acme Router Mini,49 EUR,12\nR-200,Acme Router Pro,129 EUR,0\nR-300,Mesh Kit,249 EUR,5\n"
)
TSV = b"plan\tusers\tprice\nStarter\t5\t9 EUR\nTeam\t25\t39 EUR\n"
VTT = b"""WEBVTT

00:00:01.000 --> 00:00:04.500
<v Ana>Welcome to the Acme router setup video.

00:00:05.000 --> 00:00:09.000
First, plug the yellow cable into the WAN port.

00:01:02.250 --> 00:01:07.000
To factory reset, hold the pinhole button for ten seconds.
"""
SRT = b"""1
00:00:00,500 --> 00:00:03,000
Hello and welcome.

2
00:00:03,500 --> 00:00:08,000
Invoices can be downloaded from the billing page.
"""


def make_pptx() -> bytes:
    """Three slides: a titled one with a bullet list and speaker notes, one with a table, a title-only one."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = "Router training"
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Resetting the router"
    slide.placeholders[1].text_frame.text = "Hold the reset button for ten seconds."
    slide.notes_slide.notes_text_frame.text = "Remind people that settings are lost."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Warranty by region"
    table = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([("Region", "Period"), ("EU", "3 years"), ("US", "1 year")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    deck.slides.add_slide(deck.slide_layouts[0]).shapes.title.text = "Questions"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_xlsx() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Prices"
    sheet.append(["sku", "product", "price"])
    sheet.append(["R-100", "Acme Router Mini", 49])
    sheet.append([None, None, None])  # an empty row: skipped, numbering kept
    sheet.append(["R-200", "Acme Router Pro", 129.5])
    other = book.create_sheet("Stock")
    other.append(["sku", "warehouse", "units"])
    other.append(["R-100", "Leeds", 12])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _odf(mimetype: str, content: str, meta: str = "") -> bytes:
    """An OpenDocument package: the mimetype first and stored, then content.xml (and meta.xml)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), mimetype)
        archive.writestr("content.xml", content)
        if meta:
            archive.writestr("meta.xml", meta)
    return out.getvalue()


_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
)


def make_ods(repeated_rows: int = 3) -> bytes:
    row = (
        "<table:table-row{}><table:table-cell><text:p>{}</text:p></table:table-cell>{}"
        "<table:table-cell><text:p>{}</text:p></table:table-cell></table:table-row>"
    )
    gap = '<table:table-cell table:number-columns-repeated="2"/>'  # two empty cells between the values
    body = (
        f'<office:document-content {_NS}><office:body><office:spreadsheet><table:table table:name="Plans">'
        + row.format("", "plan", gap, "price")
        + row.format("", "Starter", gap, "9 EUR")
        + row.format(f' table:number-rows-repeated="{repeated_rows}"', "Filler", gap, "0 EUR")
        + '<table:table-row table:number-rows-repeated="1048000">'  # a sheet's empty tail, as Calc saves it
        + '<table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
        + "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    return _odf("application/vnd.oasis.opendocument.spreadsheet", body)


def make_odt() -> bytes:
    body = (
        f"<office:document-content {_NS}><office:body><office:text>"
        '<text:h text:outline-level="1">Returns</text:h>'
        '<text:p>Unworn shoes may be returned<text:s text:c="1"/>within 45 days.</text:p>'
        '<text:h text:outline-level="2">Refunds</text:h>'
        "<text:list><text:list-item><text:p>Refunds reach the card in 5 days.</text:p></text:list-item>"
        "</text:list>"
        "<table:table><table:table-row><table:table-cell><text:p>Item</text:p></table:table-cell>"
        "<table:table-cell><text:p>Window</text:p></table:table-cell></table:table-row>"
        "<table:table-row><table:table-cell><text:p>Sale</text:p></table:table-cell>"
        "<table:table-cell><text:p>exchange only</text:p></table:table-cell></table:table-row></table:table>"
        "</office:text></office:body></office:document-content>"
    )
    meta = (
        '<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta><dc:title>Returns policy</dc:title>'
        "</office:meta></office:document-meta>"
    )
    return _odf("application/vnd.oasis.opendocument.text", body, meta)


def make_epub(version: int = 3) -> bytes:
    """Two chapters in spine order, titled by the EPUB 3 nav (or the EPUB 2 NCX), in an OEBPS folder."""
    chapter = (
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{0}</title></head>'
        "<body><h1>{0}</h1><p>{1}</p><h2>Details</h2><p>{2}</p></body></html>"
    )
    nav = (
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><body>'
        '<nav epub:type="toc"><ol><li><a href="text/one.xhtml">Getting started</a></li>'
        '<li><a href="text/two.xhtml#top">Care and cleaning</a></li></ol></nav></body></html>'
    )
    ncx = (
        '<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/"><navMap>'
        '<navPoint id="a"><navLabel><text>Getting started</text></navLabel>'
        '<content src="text/one.xhtml"/></navPoint>'
        '<navPoint id="b"><navLabel><text>Care and cleaning</text></navLabel>'
        '<content src="text/two.xhtml"/></navPoint>'
        "</navMap></ncx>"
    )
    toc = (
        '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        if version == 3
        else '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>'
    )
    spine = "<spine>" if version == 3 else '<spine toc="ncx">'
    opf = (
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<dc:title>The kettle book</dc:title></metadata><manifest>"
        '<item id="one" href="text/one.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="two" href="text/two.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="cover" href="cover.png" media-type="image/png"/>'
        f"{toc}</manifest>{spine}"
        '<itemref idref="two"/><itemref idref="one"/></spine></package>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        archive.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        archive.writestr("OEBPS/content.opf", opf)
        archive.writestr("OEBPS/nav.xhtml", nav)
        archive.writestr("OEBPS/toc.ncx", ncx)
        archive.writestr(
            "OEBPS/text/one.xhtml",
            chapter.format("Unpacking", "Remove the kettle from its box.", "Keep the box for returns."),
        )
        archive.writestr(
            "OEBPS/text/two.xhtml",
            chapter.format("Descaling", "Descale monthly with citric acid.", "Rinse twice after descaling."),
        )
    return out.getvalue()


RTF = (
    rb"{\rtf1\ansi\deff0 {\fonttbl {\f0 Times;}}"
    rb"{\pard Spare lids cost 4 euros in the parts shop.\par}"
    rb"{\pard Caf\'e9 machines are not covered by this warranty.\par}}"
)
JSON_FAQ = (
    b'{"data": [{"id": 7, "question": "How long do refunds take?", "answer": "Refunds reach the card '
    b'within 5 business days.", "category": "billing", "tags": ["refund", "card"]}, '
    b'{"id": 8, "question": "Do you ship to Norway?", "answer": "Yes, in 3 to 5 days.", '
    b'"meta": {"updated": "2026-11-02"}}]}'
)
JSONL = (
    b'{"title": "Opening hours", "body": "We are open nine to five."}\n\n'
    b'{"title": "Parking", "body": "Park behind the shop."}\n'
)


SCAN_TEXT = [
    "Customers may return unworn shoes within 45 days of delivery for a full refund.",
    "Sale items can be exchanged but not refunded. Refunds reach the original card",
    "within 5 business days after the parcel is scanned at our warehouse in Leeds.",
    "",
    "Questions? Call 0113 496 0000 or write to help@example.com (9:00-17:00).",
]


def render_page(lines: list[str], *, dpi: int = 200, size_pt: int = 11):
    """A clean scan: black text on an A4 page at ``dpi``, one line per entry ('' leaves a blank line)."""
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("L", (int(8.27 * dpi), int(11.69 * dpi)), 255)
    draw, font = ImageDraw.Draw(page), ImageFont.load_default(size=round(size_pt / 72 * dpi))
    y = dpi  # one-inch margins
    for line in lines:
        draw.text((dpi, y), line, font=font, fill=0)
        y += round(1.5 * size_pt / 72 * dpi)
    return page


def image_bytes(image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def scanned_pdf(pages: list, *, dpi: int = 200) -> bytes:
    """A PDF of images only (no text layer), as a scanner writes it."""
    out = io.BytesIO()
    pages[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=pages[1:])
    return out.getvalue()


def mixed_pdf(text_page: str, scan) -> bytes:
    """Page 1 with a text layer, page 2 a scan."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for data in (make_pdf([text_page]), scanned_pdf([scan])):
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` × ``height`` (its pixels are never reached: the size check is first)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def char_accuracy(found: str, truth: str) -> float:
    """1 − (edit distance ÷ length of the truth), whitespace runs counted as one space."""
    a, b = " ".join(found.split()), " ".join(truth.split())
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1 - previous[-1] / max(len(b), 1)


def make_table_pdf() -> bytes:
    """One page: a sentence, a ruled 3 × 3 table (a header row and two rows), a sentence below it."""
    rows = [("Region", "Period", "Cover"), ("EU", "3 years", "parts and labour"), ("US", "1 year", "parts")]
    ops = ["BT /F1 11 Tf 72 740 Td (Warranty periods differ by region, as listed below.) Tj ET"]
    top, height, widths = 700, 24, (100, 100, 160)
    for r, row in enumerate(rows):
        x = 72
        y = top - (r + 1) * height
        for c, cell in enumerate(row):
            ops.append(f"{x} {y} {widths[c]} {height} re S")
            ops.append(f"BT /F1 10 Tf {x + 4} {y + 8} Td ({cell}) Tj ET")
            x += widths[c]
    ops.append("BT /F1 11 Tf 72 560 Td (Claims need the receipt and the serial number.) Tj ET")
    stream = "\n".join(ops).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
        b"/Resources << /Font << /F1 3 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    return _pdf_file(objects)
