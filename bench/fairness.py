"""A small tenant beside a big one: how long knowledge base B's one document waits, and memory per file.

1. Wait: knowledge base A has a sitemap of slow pages being fetched (``--pages``, each answering
   after ``--page-delay`` seconds) and ``--documents`` uploads queued; B then uploads one small text.
   Reported: B's upload-to-searchable time, beside the same upload on an idle service (the baseline,
   measured in the same run), and how many of A's documents were ingested while B waited.
2. Memory: the peak resident memory of ``kbchat ingest`` (its own process, parsing child included)
   for one plain-text file of each size in ``--sizes-mb``, beside the same command on a 1 KB file.

    .venv/bin/python -m bench.fairness [--documents 1000 --pages 200 --sizes-mb 10 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import scratch_settings

TOKEN = "bench-token-0123456789"
KBCHAT = shutil.which("kbchat") or str(Path(sys.executable).with_name("kbchat"))


def _slow_site(pages: int, delay_s: float) -> str:
    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/sitemap.xml":
                body = (
                    '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    + "".join(f"<url><loc>{base}/p{i}.txt</loc></url>" for i in range(pages))
                    + "</urlset>"
                ).encode()
            else:
                time.sleep(delay_s)  # a slow site, by design of the benchmark
                body = f"Page {self.path}: notes from a slow site.".encode()
            self.send_response(200)
            self.send_header(
                "Content-Type", "application/xml" if self.path.endswith(".xml") else "text/plain"
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def _searchable_after(client, kb_id: str, text: bytes) -> float:
    started = time.perf_counter()
    job = client.post(
        f"/v1/knowledge-bases/{kb_id}/documents", files=[("files", ("small.txt", text, "text/plain"))]
    ).json()["documents"][0]["job_id"]
    while client.get(f"/v1/jobs/{job}").json()["status"] not in ("succeeded", "failed"):
        time.sleep(0.02)
    return time.perf_counter() - started


def wait_of_a_small_tenant(documents: int, pages: int, delay_s: float) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy import func, select

    from backend.api.app import create_app
    from backend.db.models import Job, JobStatus

    site = _slow_site(pages, delay_s)
    settings = scratch_settings(ingest={"url_allowlist": ["127.0.0.1"], "url_max_pages": pages})
    with TestClient(create_app(settings)) as client:
        client.headers.update({"Authorization": f"Bearer {TOKEN}"})
        a = client.post("/v1/knowledge-bases", json={"name": "big"}).json()["id"]
        b = client.post("/v1/knowledge-bases", json={"name": "small"}).json()["id"]
        idle = _searchable_after(client, b, b"Idle: the small tenant ships from Leeds.")
        client.post(f"/v1/knowledge-bases/{a}/documents/from-url", json={"url": f"{site}/sitemap.xml"})
        for start in range(0, documents, 50):
            files = [
                (
                    "files",
                    (f"a{i}.txt", f"Document {i} of the big tenant, on topic {i % 37}. " * 20, "text/plain"),
                )
                for i in range(start, min(documents, start + 50))
            ]
            client.post(f"/v1/knowledge-bases/{a}/documents", files=files)
        sessions = client.app.state.services.sessions

        def queued() -> int:
            with sessions() as session:
                return session.scalar(
                    select(func.count()).where(
                        Job.kb_id == a, Job.kind == "ingest", Job.status == JobStatus.QUEUED
                    )
                )

        before = queued()
        busy = _searchable_after(client, b, b"Busy: the small tenant ships from Leeds.")
        after = queued()
    print(
        f"B's document, upload to searchable: idle {idle:.2f} s; beside A's backlog {busy:.2f} s "
        f"({busy / idle:.1f}x); A had {before} documents queued and {pages} slow pages "
        f"({delay_s} s each) being fetched; {before - after} of A's were ingested while B waited"
    )


def peak_memory(sizes_mb: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for size_mb in [0, *sizes_mb]:
            path = Path(tmp) / f"file-{size_mb}mb.txt"
            line = b"The quick brown fox jumps over the lazy dog near the river bank. " * 4 + b"\n"
            target = max(1024, size_mb * 1024 * 1024)
            path.write_bytes(line * (target // len(line)))
            env = {
                **os.environ,
                "KBCHAT_DATA_DIR": str(Path(tmp) / f"data-{size_mb}"),
                "KBCHAT_INGEST__MAX_UPLOAD_BYTES": str(200 * 1024 * 1024),
                "KBCHAT_INGEST__PARSE_MEMORY_MB": "8192",
                "KBCHAT_LIMITS__UPLOAD_BYTES": str(400 * 1024 * 1024),
            }
            code = (
                "import resource, sys, subprocess;"
                f"r = subprocess.run([{KBCHAT!r}, 'ingest', {str(path)!r}, '--kb', 'mem'], capture_output=True);"
                "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
            )
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            returncode, peak_kb = map(int, out.stdout.split())
            rows.append((size_mb, returncode, peak_kb / 1024, time.perf_counter() - started))
        base = rows[0][2]
        for size_mb, returncode, peak_mb, seconds in rows:
            label = "1 KB" if size_mb == 0 else f"{size_mb} MB"
            print(
                f"kbchat ingest of a {label:>6} text file: peak RSS {peak_mb:6.0f} MB (+{peak_mb - base:5.0f} MB "
                f"over the 1 KB file), {seconds:5.1f} s, exit {returncode}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--page-delay", type=float, default=2.0)
    parser.add_argument("--sizes-mb", type=int, nargs="*", default=[10, 50])
    args = parser.parse_args()
    wait_of_a_small_tenant(args.documents, args.pages, args.page_delay)
    peak_memory(args.sizes_mb)


if __name__ == "__main__":
    main()
