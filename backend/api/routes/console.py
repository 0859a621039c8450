"""The admin console at ``/console``: three static files served by kbchat itself (no build step, no
CDN, nothing to install), a single page that speaks the same ``/v1`` API as every other client.

It signs in with the admin token or a knowledge base's API key, kept in the tab's ``sessionStorage``
and sent as a bearer header: no cookie, so nothing for a cross-site request to ride on (no CSRF). The
page sets every server string as text, never as HTML, and its Content-Security-Policy allows only its
own script and style files.
"""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from backend.errors import NotFound

router = APIRouter(tags=["console"], include_in_schema=False)
FOLDER = Path(__file__).resolve().parent.parent / "static" / "console"
FILES = {
    "index.html": ("index.html", "text/html; charset=utf-8"),
    "console.js": ("console.js", "application/javascript; charset=utf-8"),
    "console.css": ("console.css", "text/css; charset=utf-8"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob:; frame-src 'self'; form-action 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
"""The widget preview is this server's own /widget/demo in a frame; charts are fetched with the bearer
and shown from a blob: URL; nothing else is loaded."""


@functools.cache
def _read(name: str) -> bytes:
    """Read on first request, then kept: importing the API must not touch the disk."""
    return (FOLDER / name).read_bytes()


@router.get("/console")
def console_root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/")
def console_page() -> Response:
    return console_file("index.html")


@router.get("/console/{name}")
def console_file(name: str) -> Response:
    if name not in FILES:  # a fixed table, so a name never reaches the file system
        raise NotFound(f"/console/{name} does not exist; the console is at /console/")
    file, media_type = FILES[name]
    return Response(
        _read(file),
        media_type=media_type,
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",  # revalidated, so an upgrade shows at once
        },
    )
