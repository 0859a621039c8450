"""The widget's script and a demo page, served by the backend itself (no build step, no CDN)."""

from __future__ import annotations

import functools
import html
from pathlib import Path

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["widget"])
SCRIPT_PATH = Path(__file__).resolve().parent.parent / "static" / "widget.js"


@functools.cache
def _script() -> str:
    """Read on first request, then kept: importing the API must not touch the disk."""
    return SCRIPT_PATH.read_text(encoding="utf-8")


@router.get("/widget.js", include_in_schema=False)
def widget_script() -> Response:
    return Response(
        _script(),
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/widget/demo", response_class=HTMLResponse, include_in_schema=False)
def widget_demo(key: str = Query(default="", max_length=200)) -> HTMLResponse:
    """A page that embeds the widget with ``?key=kbw_...``. For it to answer, this server's own origin
    must be listed in the knowledge base's ``widget.allowed_origins``."""
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>kbchat widget demo</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
        "<body style='font-family:system-ui;max-width:40rem;margin:3rem auto'>"
        "<h1>kbchat widget demo</h1><p>The launcher is in the bottom-right corner.</p>"
        f"<script src='/widget.js' data-key='{html.escape(key, quote=True)}' async></script>"
        "</body></html>"
    )
    return HTMLResponse(
        page, headers={"Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'"}
    )
