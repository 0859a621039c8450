"""Images (PNG, JPEG, TIFF, WebP): their text by OCR (ingest/loaders/ocr.py); each TIFF frame a page.

The size is read from the header before a pixel is decoded: a 20,000 × 20,000 image fails with its
dimensions and the limit instead of filling the parser's memory. An image with no text is an empty
document, said as such."""

from __future__ import annotations

import io

from backend.errors import EmptyContent, InvalidInput
from ingest.loaders import progress
from ingest.loaders.base import ParsedDocument
from ingest.loaders.located import LocatedBuilder
from ingest.loaders.ocr import check_pixels, read_image

MAX_FRAMES = 500


def load_image(data: bytes, *, name: str) -> ParsedDocument:
    from PIL import Image, UnidentifiedImageError

    # Pillow's own bomb check fires at open with the pixel count only; ours, right after, names the
    # dimensions and our limit. Nothing is decoded before it: open reads the header.
    Image.MAX_IMAGE_PIXELS = None
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInput(
            f"{name} is not a readable image ({exc.__class__.__name__}); save it again"
        ) from None
    check_pixels(*image.size, name=name)
    frames = getattr(image, "n_frames", 1)
    if frames > MAX_FRAMES:
        raise InvalidInput(f"{name} has {frames:,} pages; the limit is {MAX_FRAMES:,}")
    builder = LocatedBuilder()
    for number in range(frames):
        try:
            image.seek(number)
            check_pixels(*image.size, name=f"{name} page {number + 1}")
            text = read_image(image)
            progress.beat()
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise InvalidInput(f"{name} could not be decoded ({exc.__class__.__name__}: {exc})") from None
        builder.part((), text, {"page": number + 1} if frames > 1 else {})
    parsed = builder.build()
    if not parsed.sections:
        raise EmptyContent(f"{name}: no text was found in the image")
    return parsed
