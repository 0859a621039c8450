"""URL and sitemap ingestion from a real HTTP server on loopback (allowed by the allowlist), and the
address policy that refuses private, loopback and link-local targets, redirects included."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from backend.catalog.urls import UrlPolicy
from backend.errors import InvalidInput
from tests.conftest import AUTH, create_kb, wait_for_job

PAGES: dict[str, tuple[str, bytes]] = {
    "/a.html": (
        "text/html; charset=utf-8",
        b"<html><head><title>Warranty</title></head><body><nav>Home | Shop</nav><main><h1>Warranty</h1>"
        b"<p>Every kettle carries a three-year warranty covering the heating element.</p>"
        b"</main></body></html>",
    ),
    "/b.md": (
        "text/plain",
        b"# Descaling\n\nDescale the kettle monthly with citric acid in hard-water areas.",
    ),
    "/c.txt": ("text/plain", b"Spare lids can be ordered from the parts shop for 4 euros."),
    "/big.txt": ("text/plain", b"x " * 6000),
}
REDIRECTS = {
    "/redirect": "/c.txt",
    "/metadata": "http://169.254.169.254/latest/meta-data/",
    "/metadata6": "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of the same address
}


class Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path == "/sitemap.xml":
            paths = [
                "/a.html",
                "/b.md",
                "/redirect",
                "/metadata",
                "/metadata6",
                "/missing",
                "/big.txt",
                "/a.html",
            ]
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
                + "</urlset>"
            ).encode()
            self._answer(200, "application/xml", body)
        elif self.path == "/index.xml":  # a sitemap index: one good child, one refused, one missing
            children = [f"{base}/sitemap.xml", "http://169.254.169.254/sitemap.xml", f"{base}/nope.xml"]
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(f"<sitemap><loc>{c}</loc></sitemap>" for c in children)
                + "</sitemapindex>"
            ).encode()
            self._answer(200, "application/xml", body)
        elif self.path in REDIRECTS:
            self.send_response(302)
            self.send_header("Location", REDIRECTS[self.path])
            self.end_headers()
        elif self.path in PAGES:
            self._answer(200, *PAGES[self.path])
        else:
            self._answer(404, "text/plain", b"not found")

    def _answer(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _client(make_settings: Callable, embedder, **ingest: object) -> TestClient:
    settings = make_settings(ingest={"url_max_bytes": 5000, **ingest})
    client = TestClient(create_app(settings, embedder=embedder))
    client.headers.update(AUTH)
    return client


def test_a_sitemap_is_ingested_page_by_page(site: str, make_settings, embedder) -> None:
    with _client(make_settings, embedder, url_allowlist=["127.0.0.1/32"]) as client:
        kb_id = create_kb(client)
        response = client.post(
            f"/v1/knowledge-bases/{kb_id}/documents/from-url", json={"url": f"{site}/sitemap.xml"}
        )
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["id"])
        assert job["status"] == "succeeded", job
        result = job["result"]
        assert result["pages"] == 7  # the duplicate entry is fetched once
        assert sorted(d["url"] for d in result["documents"]) == [
            f"{site}/a.html",
            f"{site}/b.md",
            f"{site}/c.txt",  # the redirect's final address is the source
        ]
        errors = {f["url"].rsplit("/", 1)[-1]: f["error"] for f in result["failed"]}
        assert "169.254.169.254" in errors["metadata"] and "URL_ALLOWLIST" in errors["metadata"]
        assert "64:ff9b::a9fe:a9fe" in errors["metadata6"]  # refused on the redirect, after resolving
        assert "HTTP 404" in errors["missing"]
        assert "the limit is 5,000" in errors["big.txt"]
        for document in result["documents"]:
            assert wait_for_job(client, document["job_id"])["status"] == "succeeded"

        hits = client.post(
            f"/v1/knowledge-bases/{kb_id}/search", json={"query": "how long is the kettle warranty?"}
        ).json()["results"]
        assert hits[0]["source"] == f"{site}/a.html" and hits[0]["title"] == "Warranty"
        assert "Home | Shop" not in hits[0]["text"]  # navigation is boilerplate

        # Fetching the site again changes nothing.
        again = client.post(
            f"/v1/knowledge-bases/{kb_id}/documents/from-url", json={"url": f"{site}/sitemap.xml"}
        )
        result = wait_for_job(client, again.json()["id"])["result"]
        assert all(d["unchanged"] for d in result["documents"])
        assert len(client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]) == 3


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("{site}/a.html", "127.0.0.1, a private, loopback or link-local address"),
        ("http://localhost:9/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::1]/", "::1"),
        ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe"),  # NAT64 → 169.254.169.254
        ("http://[64:ff9b:1::a00:1]/", "64:ff9b:1::a00:1"),  # local-use NAT64 → 10.0.0.1
        ("http://[2002:7f00:1::]/", "2002:7f00:1::"),  # 6to4 → 127.0.0.1
        ("http://[::127.0.0.1]/", "::7f00:1"),  # IPv4-compatible
        ("http://[::ffff:10.0.0.1]/", "::ffff:a00:1"),  # IPv4-mapped
        ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "2001:0:4136:e378"),  # Teredo
        ("ftp://example.com/file", "not an http(s) URL"),
        ("http://user:secret@example.com/", "credentials"),
        ("http://no-such-host.invalid/", "could not be resolved"),
    ],
)
def test_private_addresses_are_refused_without_the_allowlist(
    site: str, make_settings, embedder, url: str, message: str
) -> None:
    with _client(make_settings, embedder) as client:
        kb_id = create_kb(client)
        response = client.post(
            f"/v1/knowledge-bases/{kb_id}/documents/from-url", json={"url": url.format(site=site)}
        )
        assert response.status_code == 422, response.text
        assert message in response.json()["error"]["message"]


def test_ipv6_forms_of_public_ipv4_addresses_are_allowed() -> None:
    """Only what they carry decides: NAT64 and 6to4 of a public IPv4 address are fetched."""
    for literal in ("64:ff9b::5db8:d70e", "2002:5db8:d70e::1"):  # 93.184.215.14
        assert UrlPolicy().resolve(f"http://[{literal}]/").address == literal
    assert UrlPolicy(["10.0.0.0/8"]).resolve("http://[::ffff:10.0.0.1]/").address == "::ffff:a00:1"


def test_allowlist_entries_are_networks_or_host_names() -> None:
    assert UrlPolicy(["wiki.internal", "10.0.0.0/8"]).hosts == {"wiki.internal"}
    UrlPolicy(["127.0.0.0/8"]).resolve("http://127.0.0.5:8080/x")
    assert UrlPolicy(["localhost"]).resolve("http://localhost/").host == "localhost"
    assert UrlPolicy().resolve("https://93.184.215.14/page").address == "93.184.215.14"
    with pytest.raises(InvalidInput, match=r"10\.1\.2\.3"):
        UrlPolicy(["127.0.0.0/8"]).resolve("http://10.1.2.3/")


def test_a_refused_child_sitemap_fails_alone(site: str, make_settings, embedder) -> None:
    with _client(make_settings, embedder, url_allowlist=["127.0.0.1/32"]) as client:
        kb_id = create_kb(client)
        response = client.post(
            f"/v1/knowledge-bases/{kb_id}/documents/from-url", json={"url": f"{site}/index.xml"}
        )
        job = wait_for_job(client, response.json()["id"])
        assert job["status"] == "succeeded", job
        failed = {f["url"]: f["error"] for f in job["result"]["failed"]}
        assert "169.254.169.254" in failed["http://169.254.169.254/sitemap.xml"]
        assert "HTTP 404" in failed[f"{site}/nope.xml"]
        assert len(job["result"]["documents"]) == 3  # the good child's pages


def test_a_resolver_that_does_not_answer_is_a_failure_for_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """``EAI_AGAIN`` (no answer from the name server) is not "no such host": checking a URL still says
    422, but the fetcher raises its transient error, so a job retries and a sync keeps the page's
    document. An unknown name stays a permanent refusal."""
    import socket

    from ingest.web.fetch import FetchError, SafeFetcher

    def down(host: str, *args: object, **kwargs: object) -> list:
        if host == "down.example.test":
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", down)
    with pytest.raises(InvalidInput, match="just now"):
        UrlPolicy().resolve("https://down.example.test/help")
    fetcher = SafeFetcher(UrlPolicy(), max_bytes=1000, timeout_s=1)
    with pytest.raises(FetchError, match="try again shortly"):
        fetcher.get("https://down.example.test/help")
    with pytest.raises(InvalidInput, match="check the URL"):
        fetcher.get("https://unknown.example.test/help")
    fetcher.close()
