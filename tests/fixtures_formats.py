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
    info = len(objects) + 1
    objects.append(f"<< /Title ({title or ''}) >>".encode())
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
    size = len(objects) + 1
    out.write(
        f"trailer\n<< /Size {size} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
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
