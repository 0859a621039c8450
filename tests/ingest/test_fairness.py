"""One tenant's backlog never starves another's: while knowledge base A has a sitemap of hanging pages
being fetched and hundreds of documents queued, knowledge base B's one small document is searchable
after at most a batch or two of A's, and A's slow site holds up neither."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.api.app import create_app
from backend.db.models import Job, JobStatus
from tests.conftest import AUTH, create_kb, wait_for_job

pytestmark = pytest.mark.both_databases  # the fair claim is one SQL query

RELEASE = threading.Event()


class HangingSite(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path == "/sitemap.xml":
            body = (
                '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(f"<url><loc>{base}/p{i}.txt</loc></url>" for i in range(20))
                + "</urlset>"
            ).encode()
        else:
            RELEASE.wait(120)  # a site that does not answer until the test is done with it
            body = f"Page {self.path} of a slow site.".encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml" if self.path.endswith(".xml") else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_site() -> Iterator[str]:
    RELEASE.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), HangingSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    RELEASE.set()
    server.shutdown()


def test_a_small_tenant_is_not_starved_by_a_big_one(slow_site: str, make_settings, embedder) -> None:
    settings = make_settings(
        ingest={"url_allowlist": ["127.0.0.1"], "batch_documents": 32, "url_timeout_s": 120}
    )
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_a, kb_b = create_kb(client, "big"), create_kb(client, "small")
        fetch = client.post(
            f"/v1/knowledge-bases/{kb_a}/documents/from-url", json={"url": f"{slow_site}/sitemap.xml"}
        )
        assert fetch.status_code == 202, fetch.text
        for start in range(0, 300, 50):
            files = [
                (
                    "files",
                    (
                        f"a{i}.txt",
                        f"Document {i} of the big tenant, about topic {i % 17}.".encode(),
                        "text/plain",
                    ),
                )
                for i in range(start, start + 50)
            ]
            assert client.post(f"/v1/knowledge-bases/{kb_a}/documents", files=files).status_code == 202
        sessions = client.app.state.services.sessions  # type: ignore[attr-defined]

        def a_waiting() -> int:
            with sessions() as session:
                return session.scalar(
                    select(func.count()).where(
                        Job.kb_id == kb_a, Job.kind == "ingest", Job.status == JobStatus.QUEUED
                    )
                )

        small = client.post(
            f"/v1/knowledge-bases/{kb_b}/documents",
            files=[("files", ("b.txt", b"The small tenant ships from Leeds.", "text/plain"))],
        ).json()["documents"][0]

        queued_before = a_waiting()
        assert wait_for_job(client, small["job_id"], timeout=120)["status"] == "succeeded"
        waited_for = queued_before - a_waiting()
        with sessions() as session:
            fetching = session.scalar(select(Job.status).where(Job.id == fetch.json()["id"]))
        # The batch running when B arrived, the one claimed ahead of it, and B's own (32 each).
        assert queued_before >= 100 and waited_for <= 3 * 32, (queued_before, waited_for)
        assert fetching == JobStatus.RUNNING  # A's hanging site is still being fetched, in its own lane
        hits = client.post(f"/v1/knowledge-bases/{kb_b}/search", json={"query": "where does it ship from"})
        assert hits.json()["results"][0]["text"].startswith("The small tenant ships from Leeds")
        RELEASE.set()
        assert wait_for_job(client, fetch.json()["id"], timeout=120)["status"] == "succeeded"
