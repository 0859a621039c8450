"""OCR accuracy and speed on clean generated scans, beside the text-PDF path and the other formats.

    .venv/bin/python -m bench.ocr_pages [--pages 8] [--dataset python-faq]

Pages of real text (the shared set's documents, wrapped at 80 characters, 40 lines a page) are drawn
black on white at 200 dpi (Pillow's bundled font at 11 pt), saved as an image-only PDF (as a scanner
writes it) and parsed by the real loader: every page rendered by pypdfium2 and read by OCR. Reported:
character accuracy per page (1 − edit distance ÷ length, whitespace runs as one space), pages per
second, and beside them, in the same run, the same text as a text PDF (the fast path) and documents
per second for each format built by tests/fixtures_formats.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import textwrap
import time

from bench.common import DATA


def _pages(dataset: str, count: int) -> list[list[str]]:
    lines: list[str] = []
    with open(DATA / dataset / "corpus.jsonl") as corpus:
        for row in corpus:
            lines += [*textwrap.wrap(json.loads(row)["text"], 80), ""]
            if len(lines) > 40 * count:
                break
    return [lines[i * 40 : (i + 1) * 40] for i in range(count)]


def _rate(parse, data: bytes, fmt: str, repeat: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for _ in range(repeat):
        parse(data, format=fmt, name=f"bench.{fmt}")
    return repeat / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--dataset", default="python-faq")
    args = parser.parse_args()

    from ingest.loaders import parse
    from ingest.loaders.ocr import engine, read_image
    from tests import fixtures_formats as fx

    pages = _pages(args.dataset, args.pages)
    images = [fx.render_page(p) for p in pages]
    engine()  # loaded once per parser process: not part of a page's time
    accuracy, seconds = [], []
    for image, lines in zip(images, pages, strict=True):
        started = time.perf_counter()
        text = read_image(image)
        seconds.append(time.perf_counter() - started)
        accuracy.append(fx.char_accuracy(text, "\n".join(lines)))
    scan = fx.scanned_pdf(images)
    started = time.perf_counter()
    doc = parse(scan, format="pdf", name="scan.pdf")
    pdf_rate = args.pages / (time.perf_counter() - started)
    text_pdf = fx.make_pdf([" ".join(p) for p in pages])
    text_rate = _rate(parse, text_pdf, "pdf", 20) * args.pages
    print(f"{args.pages} generated pages of {args.dataset} at 200 dpi, {sum(map(len, pages))} lines")
    print(
        f"  OCR character accuracy: median {statistics.median(accuracy):.4f}, lowest {min(accuracy):.4f}, "
        f"mean {statistics.mean(accuracy):.4f}"
    )
    print(f"  OCR per page (image in hand): median {statistics.median(seconds):.2f} s")
    print(
        f"  scanned PDF through the loader (render + OCR): {pdf_rate:.2f} pages/s ({len(doc.text):,} characters)"
    )
    print(
        f"  text PDF, the same text, fast path:            {text_rate:,.0f} pages/s ({text_rate / pdf_rate:,.0f}x)"
    )
    formats = {
        "pptx (3 slides)": (fx.make_pptx(), "pptx"),
        "xlsx (2 sheets)": (fx.make_xlsx(), "xlsx"),
        "ods (1 sheet)": (fx.make_ods(), "ods"),
        "odt": (fx.make_odt(), "odt"),
        "epub (2 chapters)": (fx.make_epub(), "epub"),
        "rtf": (fx.RTF, "rtf"),
        "json (2 records)": (fx.JSON_FAQ, "json"),
        "docx": (fx.make_docx(), "docx"),
        "csv": (fx.CSV, "csv"),
    }
    print("  documents per second, each format's generated test file:")
    for label, (data, fmt) in formats.items():
        print(f"    {label:20} {_rate(parse, data, fmt, 50):8,.0f}/s")


if __name__ == "__main__":
    main()
