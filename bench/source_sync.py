"""A sync of an unchanged site, timed beside the conditional requests it cannot avoid.

    .venv/bin/python -m bench.source_sync [--pages 1000] [--repeats 5]

A real website on loopback (tests/site_server.py: ETag, Last-Modified, 304s) with ``--pages`` pages
listed by a sitemap without ``lastmod`` dates, so every page must be asked about. One scratch service
(embedded defaults) syncs it once (every page embedded), then, interleaved ``--repeats`` times:

- **baseline**: the same conditional GETs (``If-None-Match``) from one keep-alive httpx client, one
  after the other — what any sync must pay;
- **kbchat sync, unchanged**: the whole ``sync_source`` job as the worker runs it (robots.txt, the
  sitemap, the address policy on every request, the per-host turn, item bookkeeping, history).

Then one page changes and one sync runs: the number of pages embedded again, and the seconds until the
new text is what search finds. A sitemap *with* lastmod dates costs no page request at all (shown too).
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from bench.common import scratch_settings
from tests.site_server import LoopbackSite


def _site(pages: int) -> LoopbackSite:
    site = LoopbackSite().start()
    for i in range(pages):
        site.html(
            f"/kb/{i}.html", f"Article {i}", f"Article {i} explains topic {i * 7919 % 10007} in detail."
        )
    return site


def _baseline(site: LoopbackSite, etags: dict[str, str]) -> float:
    with httpx.Client() as client:
        started = time.perf_counter()
        for path, etag in etags.items():
            response = client.get(f"{site.url}{path}", headers={"If-None-Match": etag})
            assert response.status_code == 304, response.status_code
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="Added by the site to every answer.")
    parser.add_argument("--concurrency", type=int, default=1, help="KBCHAT_SOURCES__PER_HOST_CONCURRENCY")
    args = parser.parse_args()

    from sqlalchemy import func, select

    from backend.catalog import knowledge_bases as kbs
    from backend.catalog import sources
    from backend.db.models import Job, JobStatus, SourceItem
    from backend.services import Services

    site = _site(args.pages)
    settings = scratch_settings(
        ingest={"url_allowlist": ["127.0.0.1/32"]},
        sources={"per_host_delay_s": 0, "max_items": 100_000, "per_host_concurrency": args.concurrency},
    )
    services = Services.build(settings)
    worker = services.make_worker()

    def run(source_id: str) -> tuple[float, dict]:
        started = time.perf_counter()
        with services.sessions.begin() as session:
            job, _ = sources.request_sync(session, sources.get(session, kb_id, source_id), max_attempts=1)
            job_id = job.id
        while services.queue.pending([job_id]):
            worker.run_once()
        elapsed = time.perf_counter() - started
        return elapsed, (services.queue.get(job_id).payload or {})["result"]

    def drain() -> None:
        while True:
            with services.sessions() as session:
                left = session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                )
            if not left:
                return
            worker.run_once()

    with services.sessions.begin() as session:
        kb_id = kbs.create(session, name="site").id
        source_id = sources.create(
            session,
            kb_id=kb_id,
            kind="sitemap",
            url=f"{site.url}/sitemap.xml",
            settings={"max_pages": args.pages},
            tags=[],
            schedule=None,
            remove_after=None,
            policy=services.source_policy(),
        ).id
    started = time.perf_counter()
    first_s, first = run(source_id)
    drain()
    print(
        f"first sync: {first['counts']} in {first_s:.1f} s; embedded by {time.perf_counter() - started:.1f} s"
    )
    with services.sessions() as session:
        etags = {
            key.removeprefix(site.url): etag
            for key, etag in session.execute(
                select(SourceItem.key, SourceItem.etag).where(SourceItem.source_id == source_id)
            )
        }

    site.latency_s = args.latency_ms / 1000
    base, synced = [], []
    for _ in range(args.repeats):
        base.append(_baseline(site, etags))
        seconds, result = run(source_id)
        counts = result["counts"]
        assert counts["unchanged"] == args.pages and counts["added"] + counts["changed"] == 0, counts
        synced.append(seconds)
    b, s = statistics.median(base), statistics.median(synced)
    print(
        f"\n{args.pages} unchanged pages, median of {args.repeats} (interleaved), site latency "
        f"{args.latency_ms:g} ms, {args.concurrency} request(s) per host at once:"
    )
    print(
        f"  baseline: {args.pages} conditional GETs, one keep-alive client   {b:6.2f} s  ({b / args.pages * 1000:.2f} ms a page)"
    )
    print(
        f"  kbchat sync_source job, nothing changed             {s:6.2f} s  ({s / args.pages * 1000:.2f} ms a page)"
    )
    print(
        f"  ratio sync / baseline: {s / b:.2f}x   requests per sync: {counts['requests']} (pages + sitemap + robots.txt)"
    )

    site.latency_s = 0.0
    site.html("/kb/7.html", "Article 7", "Article 7 now covers the brand-new zeppelin mooring procedure.")
    started = time.perf_counter()
    seconds, result = run(source_id)
    drain()
    hits = services.retriever.search(kb_id=kb_id, query="zeppelin mooring procedure", top_k=1).passages
    searchable = time.perf_counter() - started
    assert hits and "zeppelin" in hits[0].text
    print(f"\none page changed: {result['counts']} in {seconds:.2f} s; searchable after {searchable:.2f} s")

    for page in site.pages.values():
        page.lastmod = "2026-12-01"
    run(source_id)  # records the dates
    seconds, result = run(source_id)
    print(f"sitemap with lastmod, nothing changed: {result['counts']['requests']} requests, {seconds:.2f} s")
    services.close()
    site.stop()


if __name__ == "__main__":
    main()
