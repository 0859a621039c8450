"""A real website on loopback whose pages change between syncs: ETag and Last-Modified answered
with 304s, pages that disappear, redirect, fail with a 500, a robots.txt, and a sitemap with lastmod.
Counts every request by path, so a test can assert what a sync did and did not ask for."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    lastmod: str | None = None
    """What the sitemap says; None: no <lastmod> for it."""
    modified: float = 1_700_000_000.0
    """The Last-Modified time, seconds since the epoch."""


@dataclass
class LoopbackSite:
    pages: dict[str, Page] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    """Paths that answer 500 (a site having a bad minute)."""
    robots: str | None = None
    conditional: bool = True
    """False: ETag and Last-Modified are ignored (a server that always answers 200)."""
    sitemap_body: bytes | None = None
    """Served as /sitemap.xml instead of the one listing ``pages`` (a hostile or huge sitemap)."""
    latency_s: float = 0.0
    """Added before every answer: a site across a network, for benchmarks."""
    requests: Counter[str] = field(default_factory=Counter)
    set_cookie: str | None = None
    """Sent as ``Set-Cookie`` with every answer (a site that opens a session for each visitor)."""
    cookies_sent: list[str] = field(default_factory=list)
    """Every ``Cookie`` header a client sent."""
    url: str = ""
    _server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def html(
        self, path: str, title: str, text: str, links: tuple[str, ...] = (), lastmod: str | None = None
    ) -> None:
        anchors = "".join(f'<a href="{link}">{link}</a> ' for link in links)
        head = f"<html><head><title>{title}</title></head>"
        body = f"{head}<body><h1>{title}</h1><p>{text}</p>{anchors}</body></html>"
        self.pages[path] = Page(body.encode(), lastmod=lastmod, modified=self._next_modified(path))

    def _next_modified(self, path: str) -> float:
        old = self.pages.get(path)
        return (old.modified + 60) if old else 1_700_000_000.0

    def sitemap(self, paths: list[str] | None = None) -> bytes:
        entries = []
        for path in paths if paths is not None else sorted(self.pages):
            page = self.pages.get(path)
            lastmod = f"<lastmod>{page.lastmod}</lastmod>" if page and page.lastmod else ""
            entries.append(f"<url><loc>{self.url}{path}</loc>{lastmod}</url>")
        return (
            '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(entries)
            + "</urlset>"
        ).encode()

    def start(self) -> LoopbackSite:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real sites

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without this, Nagle's algorithm holds the
                # body until the client's delayed ACK (40 ms a page), which real servers avoid.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                path = self.path
                if site.latency_s:
                    time.sleep(site.latency_s)  # a network round trip, not a wait for a condition
                with site.lock:
                    site.requests[path] += 1
                    if self.headers.get("Cookie") is not None:
                        site.cookies_sent.append(self.headers["Cookie"])
                    page = site.pages.get(path)
                    if path in site.failing:
                        return self._answer(500, "text/plain", b"server error")
                    if path == "/robots.txt":
                        if site.robots is None:
                            return self._answer(404, "text/plain", b"none")
                        return self._answer(200, "text/plain", site.robots.encode())
                    if path == "/sitemap.xml":
                        return self._answer(200, "application/xml", site.sitemap_body or site.sitemap())
                    if path in site.redirects:
                        self.send_response(301)
                        self.send_header("Location", site.redirects[path])
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                    if page is None:
                        return self._answer(404, "text/plain", b"not found")
                    etag = '"' + hashlib.sha256(page.body).hexdigest()[:16] + '"'
                    modified = formatdate(page.modified, usegmt=True)
                    if site.conditional and (
                        self.headers.get("If-None-Match") == etag
                        or (
                            self.headers.get("If-None-Match") is None
                            and self.headers.get("If-Modified-Since") == modified
                        )
                    ):
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                    return self._answer(200, page.content_type, page.body, etag=etag, modified=modified)

            def _answer(
                self,
                code: int,
                content_type: str,
                body: bytes,
                *,
                etag: str | None = None,
                modified: str | None = None,
            ) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                if modified:
                    self.send_header("Last-Modified", modified)
                self.end_headers()
                self.wfile.write(body)

            def end_headers(self) -> None:
                if site.set_cookie:
                    self.send_header("Set-Cookie", site.set_cookie)
                super().end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
