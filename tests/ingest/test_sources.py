"""Sources that stay in sync, end to end through the API: a real website on loopback whose pages
change, disappear, redirect and fail between syncs, a sitemap with lastmod dates, robots.txt, and a
local bare Git repository with new commits. Each sync is a real job on the real worker."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from tests.conftest import AUTH, create_kb, wait_for_job, wait_until
from tests.site_server import LoopbackSite, Page


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    running = LoopbackSite().start()
    yield running
    running.stop()


def _client(make_settings: Callable, embedder, **sources: object) -> TestClient:
    settings = make_settings(
        ingest={"url_allowlist": ["127.0.0.1/32"], "max_attempts": 1},
        sources={"per_host_delay_s": 0, "min_schedule_s": 1, **sources},
    )
    client = TestClient(create_app(settings, embedder=embedder))
    client.headers.update(AUTH)
    return client


def _add(client: TestClient, kb_id: str, **body: object) -> tuple[str, dict]:
    response = client.post(f"/v1/knowledge-bases/{kb_id}/sources", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    return created["id"], wait_for_job(client, created["job"]["id"])


def _sync(client: TestClient, kb_id: str, source_id: str) -> dict:
    response = client.post(f"/v1/knowledge-bases/{kb_id}/sources/{source_id}/sync")
    assert response.status_code == 202, response.text
    return wait_for_job(client, response.json()["job"]["id"])


def _documents(client: TestClient, kb_id: str) -> dict[str, dict]:
    """The knowledge base's documents by source, once every one is ingested."""

    def settled() -> list[dict]:
        docs = client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"]
        return docs if all(d["status"] in ("ready", "failed") for d in docs) else []

    wait_until(lambda: settled() or not client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"])
    return {d["source"]: d for d in settled()}


def _found(client: TestClient, kb_id: str, query: str) -> str:
    """The text of the best passage for ``query``."""
    hits = client.post(f"/v1/knowledge-bases/{kb_id}/search", json={"query": query, "top_k": 1}).json()
    return hits["results"][0]["text"] if hits["results"] else ""


def test_a_crawled_site_stays_in_sync(site: LoopbackSite, make_settings, embedder) -> None:
    site.html("/docs/", "Help centre", "Start here.", ["guide/returns.html", "shipping.html", "/about.html"])
    site.html(
        "/docs/guide/returns.html", "Returns", "Unworn shoes may be returned within 45 days.", ["../old"]
    )
    site.html("/docs/shipping.html", "Shipping", "Parcels leave our warehouse in Leeds every weekday.")
    site.html("/docs/gone.html", "Gift cards", "Gift cards never expire.")
    site.html("/about.html", "About", "Outside the section: never crawled.")
    site.redirects["/docs/old"] = "/docs/gone.html"
    with _client(make_settings, embedder) as client:
        kb_id = create_kb(client)
        source_id, job = _add(client, kb_id, kind="crawl", url=f"{site.url}/docs/", remove_after=0)
        assert job["status"] == "succeeded", job
        assert job["result"]["counts"] | {"requests": 0} == {
            "added": 4,
            "changed": 0,
            "unchanged": 0,
            "failed": 0,
            "missing": 0,
            "removed": 0,
            "requests": 0,
        }, job["result"]
        assert site.requests["/about.html"] == 0  # outside the prefix
        docs = _documents(client, kb_id)
        assert set(docs) == {
            f"{site.url}/docs/{p}" for p in ("", "guide/returns.html", "shipping.html", "old")
        }
        assert "Leeds" in _found(client, kb_id, "Where is the warehouse?")

        # The site changes: one page edited, one link (and so one page) gone.
        site.html("/docs/shipping.html", "Shipping", "Parcels now leave our warehouse in York every weekday.")
        site.html("/docs/guide/returns.html", "Returns", "Unworn shoes may be returned within 45 days.")
        before = site.requests.copy()
        job = _sync(client, kb_id, source_id)
        counts = job["result"]["counts"]
        assert (counts["added"], counts["changed"], counts["unchanged"], counts["removed"]) == (0, 2, 1, 1), (
            counts
        )
        assert site.requests["/docs/"] - before["/docs/"] == 1  # one conditional request, answered 304
        docs = _documents(client, kb_id)
        assert f"{site.url}/docs/old" not in docs
        assert "York" in _found(client, kb_id, "Where is the warehouse?")
        assert "Gift cards" not in _found(client, kb_id, "Do gift cards expire?")

        # A bad minute on the site: a 500 is not a deletion.
        site.failing.add("/docs/shipping.html")
        job = _sync(client, kb_id, source_id)
        assert job["result"]["status"] == "partial" and job["result"]["counts"]["removed"] == 0, job["result"]
        assert f"{site.url}/docs/shipping.html" in _documents(client, kb_id)
        source = client.get(f"/v1/knowledge-bases/{kb_id}/sources/{source_id}").json()
        assert source["last_status"] == "partial" and "500" in source["last_error"]
        assert source["documents"] == 3
        history = client.get(f"/v1/knowledge-bases/{kb_id}/sources/{source_id}/syncs").json()["data"]
        assert [h["status"] for h in history] == ["partial", "ok", "ok"]
        assert history[0]["errors"] == [
            {
                "key": f"{site.url}/docs/shipping.html",
                "error": history[0]["errors"][0]["error"],
                "transient": True,
            }
        ]

        metrics = client.get("/metrics").text
        assert 'kbchat_source_syncs_total{connector="crawl",status="partial"} 1.0' in metrics
        assert 'kbchat_source_items_total{connector="crawl",outcome="removed"} 1.0' in metrics

        # Deleting the source deletes its documents and their passages.
        assert client.delete(f"/v1/knowledge-bases/{kb_id}/sources/{source_id}").status_code == 204
        assert client.get(f"/v1/knowledge-bases/{kb_id}/documents").json()["data"] == []
        assert _found(client, kb_id, "Where is the warehouse?") == ""
        assert client.get(f"/v1/knowledge-bases/{kb_id}/sources/{source_id}").status_code == 404


def test_sitemap_lastmod_spares_requests_and_a_grace_delays_removal(
    site: LoopbackSite, make_settings, embedder
) -> None:
    for i in range(5):
        site.html(f"/p{i}.html", f"Page {i}", f"Topic number {i} explained at length.", lastmod="2026-11-01")
    with _client(make_settings, embedder) as client:
        kb_id = create_kb(client)
        source_id, job = _add(client, kb_id, kind="sitemap", url=f"{site.url}/sitemap.xml", remove_after="1d")
        assert job["result"]["counts"]["added"] == 5, job["result"]
        before = site.requests.copy()
        site.html("/p1.html", "Page 1", "Topic number 1 rewritten entirely.", lastmod="2026-12-01")
        del site.pages["/p4.html"]
        job = _sync(client, kb_id, source_id)
        counts = job["result"]["counts"]
        assert (counts["changed"], counts["unchanged"], counts["missing"], counts["removed"]) == (1, 3, 1, 0)
        pages = {path: n - before[path] for path, n in site.requests.items() if path.startswith("/p")}
        assert {p: n for p, n in pages.items() if n} == {"/p1.html": 1}  # unchanged dates: no request
        assert counts["requests"] == 3  # robots.txt (once per sync), the sitemap, the changed page
        assert len(_documents(client, kb_id)) == 5  # the missing page waits out its grace

        # The sitemap itself fails: the sync fails and removes nothing.
        site.failing.add("/sitemap.xml")
        job = _sync(client, kb_id, source_id)
        assert job["status"] == "failed" and "500" in job["error"], job
        assert len(_documents(client, kb_id)) == 5
        assert (
            client.get(f"/v1/knowledge-bases/{kb_id}/sources/{source_id}").json()["last_status"] == "failed"
        )


def test_robots_txt_and_a_server_that_ignores_conditional_requests(
    site: LoopbackSite, make_settings, embedder
) -> None:
    site.robots = "User-agent: *\nDisallow: /private/\n"
    site.html(
        "/index.html", "Index", "The public part of the manual.", ["private/secret.html", "public.html"]
    )
    site.html("/private/secret.html", "Secret", "Staff only.")
    site.html("/public.html", "Public", "Opening hours are nine to five.")
    site.conditional = False
    with _client(make_settings, embedder) as client:
        kb_id = create_kb(client)
        source_id, job = _add(client, kb_id, kind="crawl", url=f"{site.url}/index.html")
        assert job["result"]["counts"]["added"] == 2 and job["result"]["counts"]["failed"] == 1, job["result"]
        assert site.requests["/private/secret.html"] == 0
        assert "robots.txt" in job["result"]["status"] or job["result"]["status"] == "partial"
        # Same bytes again (no 304 from this server): hashed, not embedded again.
        job = _sync(client, kb_id, source_id)
        assert job["result"]["counts"]["unchanged"] == 2 and job["result"]["counts"]["changed"] == 0


def test_no_source_carries_a_sites_cookies(site: LoopbackSite, make_settings, embedder) -> None:
    """The fetcher's client is shared by every sync in the process: a cookie one knowledge base's sync
    was given must not reach the site again, on that sync or on another tenant's."""
    site.set_cookie = "session=opened-for-the-first-visitor; Path=/"
    site.html("/a.html", "A", "Parcels leave the warehouse in Leeds every morning.")
    site.html("/b.html", "B", "Refunds reach the original card within five business days.")
    with _client(make_settings, embedder) as client:
        first, second = create_kb(client, "shop"), create_kb(client, "other-tenant")
        source_id, job = _add(client, first, kind="sitemap", url=f"{site.url}/sitemap.xml")
        assert job["result"]["counts"]["added"] == 2, job["result"]
        assert _sync(client, first, source_id)["result"]["counts"]["unchanged"] == 2
        _, job = _add(client, second, kind="page", url=f"{site.url}/a.html")
        assert job["result"]["counts"]["added"] == 1, job["result"]
    assert sum(site.requests.values()) >= 7  # robots, sitemap, 2 pages; again; the page
    assert site.cookies_sent == []


def test_bad_sources_are_refused_with_reasons(site: LoopbackSite, make_settings, embedder) -> None:
    with _client(make_settings, embedder, min_schedule_s=300) as client:
        kb_id = create_kb(client)
        url = f"/v1/knowledge-bases/{kb_id}/sources"
        cases = [
            ({"kind": "ftp", "url": "ftp://x"}, "unknown source kind"),
            ({"kind": "crawl", "url": f"{site.url}/", "settings": {"depth": 2}}, "depth"),
            ({"kind": "page", "url": "http://169.254.169.254/latest/"}, "169.254.169.254"),
            ({"kind": "page", "url": f"{site.url}/", "schedule": "often"}, "not a duration"),
            ({"kind": "page", "url": f"{site.url}/", "schedule": "1m"}, "shorter than the shortest allowed"),
            ({"kind": "git", "url": "file:///etc"}, "KBCHAT_SOURCES__GIT_ALLOWLIST"),
            (
                {"kind": "crawl", "url": f"{site.url}/a/", "settings": {"prefix": f"{site.url}/b/"}},
                "not under",
            ),
        ]
        for body, message in cases:
            response = client.post(url, json=body)
            assert response.status_code == 422, (body, response.text)
            assert message in response.text, (body, response.text)
        assert client.get(url).json()["data"] == []
        kinds = {c["kind"] for c in client.get("/v1/connectors").json()["data"]}
        assert kinds >= {"page", "sitemap", "crawl", "git"}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_a_git_repository_syncs_by_blob(tmp_path: Path, make_settings, embedder) -> None:
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    _git(tmp_path, "init", "--bare", "--initial-branch=main", str(origin))
    _git(tmp_path, "clone", str(origin), str(work))
    (work / "docs").mkdir()
    (work / "docs" / "install.md").write_text("# Install\n\nRun the installer and accept the licence.\n")
    (work / "docs" / "faq.rst").write_text("FAQ\n===\n\nThe kettle boils a litre in ninety seconds.\n")
    (work / "src.py").write_text("print('not documentation')\n")
    _git(work, "add", ".")
    _git(work, "commit", "-m", "docs")
    _git(work, "push", "origin", "HEAD:main")
    allowed = f"file://{tmp_path}/"
    with _client(make_settings, embedder, git_allowlist=[allowed]) as client:
        kb_id = create_kb(client)
        body = {
            "kind": "git",
            "url": f"file://{origin}",
            "settings": {"folders": ["docs"]},
            "remove_after": 0,
        }
        source_id, job = _add(client, kb_id, **body)
        assert job["status"] == "succeeded", job
        assert job["result"]["counts"]["added"] == 2, job["result"]
        assert {d["status"] for d in _documents(client, kb_id).values()} == {"ready"}
        assert "ninety seconds" in _found(client, kb_id, "How fast does the kettle boil?")

        (work / "docs" / "install.md").write_text(
            "# Install\n\nRun the installer; no licence is needed now.\n"
        )
        (work / "docs" / "faq.rst").unlink()
        (work / "docs" / "care.md").write_text("# Care\n\nDescale the kettle monthly.\n")
        _git(work, "add", "-A")
        _git(work, "commit", "-m", "more docs")
        _git(work, "push", "origin", "HEAD:main")
        counts = _sync(client, kb_id, source_id)["result"]["counts"]
        assert (counts["added"], counts["changed"], counts["unchanged"], counts["removed"]) == (1, 1, 0, 1), (
            counts
        )
        assert set(_documents(client, kb_id)) == {
            f"file://{origin}#docs/install.md",
            f"file://{origin}#docs/care.md",
        }
        counts = _sync(client, kb_id, source_id)["result"]["counts"]
        assert counts["unchanged"] == 2 and counts["added"] + counts["changed"] == 0

        other = client.post(
            f"/v1/knowledge-bases/{kb_id}/sources", json={"kind": "git", "url": "file:///srv/elsewhere.git"}
        )
        assert other.status_code == 422 and "not an allowed repository" in other.text

        clone = tmp_path / "data" / "sources" / source_id / "repo.git"
        assert clone.is_dir()  # kept between syncs
        assert client.delete(f"/v1/knowledge-bases/{kb_id}").status_code == 204
        assert not clone.parent.exists()  # the knowledge base's sources take their folders with them


def test_hostile_pages_fail_alone_with_reasons(site: LoopbackSite, make_settings, embedder) -> None:
    site.html(
        "/start.html",
        "Start",
        "Links to pages that misbehave.",
        ("loop-a", "huge.html", "missing.html", "private", "fine.html"),
    )
    site.redirects.update({"/loop-a": "/loop-b", "/loop-b": "/loop-a", "/private": "http://10.1.2.3/admin"})
    site.pages["/huge.html"] = Page(b"<p>" + b"x" * 9000 + b"</p>")
    site.html("/fine.html", "Fine", "This page behaves and is stored.")
    settings = make_settings(
        ingest={"url_allowlist": ["127.0.0.1/32"], "max_attempts": 1, "url_max_bytes": 8000},
        sources={"per_host_delay_s": 0},
    )
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.headers.update(AUTH)
        kb_id = create_kb(client)
        source_id, job = _add(client, kb_id, kind="crawl", url=f"{site.url}/start.html", remove_after=0)
        result = job["result"]
        assert job["status"] == "succeeded" and result["status"] == "partial", result
        assert (result["counts"]["added"], result["counts"]["failed"]) == (2, 4), result
        history = client.get(f"/v1/knowledge-bases/{kb_id}/sources/{source_id}/syncs").json()["data"][0]
        reasons = {e["key"].rsplit("/", 1)[1]: e["error"] for e in history["errors"]}
        assert "redirects more than" in reasons["loop-a"]
        assert "the limit is 8,000" in reasons["huge.html"]
        assert "404" in reasons["missing.html"]
        assert "10.1.2.3" in reasons["private"]
        assert not any(e["transient"] for e in history["errors"])
        assert set(_documents(client, kb_id)) == {f"{site.url}/start.html", f"{site.url}/fine.html"}


def test_a_source_never_deletes_an_upload_it_matched(site: LoopbackSite, make_settings, embedder) -> None:
    site.html("/terms.html", "Terms", "Orders can be cancelled until they ship.")
    with _client(make_settings, embedder) as client:
        kb_id = create_kb(client)
        files = {"files": ("terms.html", site.pages["/terms.html"].body, "text/html")}
        uploaded = client.post(f"/v1/knowledge-bases/{kb_id}/documents", files=files).json()["documents"][0]
        wait_for_job(client, uploaded["job_id"])
        source_id, job = _add(client, kb_id, kind="page", url=f"{site.url}/terms.html")
        assert job["result"]["counts"]["added"] == 1  # the same bytes: matched, not stored twice
        assert list(_documents(client, kb_id)) == ["terms.html"]
        assert client.delete(f"/v1/knowledge-bases/{kb_id}/sources/{source_id}").status_code == 204
        assert list(_documents(client, kb_id)) == ["terms.html"]  # the upload is not the source's to delete


def test_a_sitemap_of_a_hundred_thousand_urls_is_cut_at_the_limit(
    site: LoopbackSite, make_settings, embedder
) -> None:
    site.html("/p0.html", "Page 0", "The only page that exists.")
    urls = "".join(f"<url><loc>{site.url}/p{i}.html</loc></url>" for i in range(100_000))
    site.sitemap_body = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + urls
        + "</urlset>"
    ).encode()
    with _client(make_settings, embedder, max_items=3) as client:
        kb_id = create_kb(client)
        _, job = _add(client, kb_id, kind="sitemap", url=f"{site.url}/sitemap.xml", remove_after=0)
        result = job["result"]
        assert job["status"] == "succeeded", job
        assert (result["counts"]["added"], result["counts"]["failed"]) == (1, 2), result  # p1, p2: 404
        assert result["incomplete"] == ["the sitemap lists more than 3 pages; only the first 3 are synced"]
        assert site.requests["/p3.html"] == 0


def test_a_crawl_stops_at_its_page_limit_and_then_removes_nothing(
    site: LoopbackSite, make_settings, embedder
) -> None:
    site.html("/s/", "Start", "The start page of a section.", ("a.html", "b.html", "c.html"))
    for name in ("a", "b", "c"):
        site.html(f"/s/{name}.html", name.upper(), f"Page {name} of the section, with its own words.")
    with _client(make_settings, embedder) as client:
        kb_id = create_kb(client)
        body = {"kind": "crawl", "url": f"{site.url}/s/", "settings": {"max_pages": 3}, "remove_after": 0}
        source_id, job = _add(client, kb_id, **body)
        result = job["result"]
        assert result["counts"]["added"] == 3 and site.requests["/s/c.html"] == 0, result
        assert result["incomplete"] == [
            "the crawl reached its limit of 3 pages; pages beyond it were not visited"
        ]
        del site.pages["/s/b.html"]  # gone, but a limited crawl cannot tell gone from unvisited ...
        again = _sync(client, kb_id, source_id)["result"]
        assert again["counts"]["removed"] == 0 and again["status"] == "partial", again  # ... so nothing goes


def test_a_source_is_changed_by_patch_and_validated_again(
    site: LoopbackSite, make_settings, embedder
) -> None:
    site.html("/p.html", "P", "A page.")
    with _client(make_settings, embedder, min_schedule_s=60) as client:
        kb_id = create_kb(client)
        url = f"/v1/knowledge-bases/{kb_id}/sources"
        created = client.post(
            url, json={"kind": "sitemap", "url": f"{site.url}/sitemap.xml", "sync": False}
        ).json()
        assert created["job"] is None and created["schedule_s"] is None and created["next_sync_at"] is None
        one = f"{url}/{created['id']}"
        changed = client.patch(one, json={"schedule": "1h", "tags": ["help"], "settings": {"max_pages": 5}})
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert (body["schedule_s"], body["tags"], body["settings"]) == (3600, ["help"], {"max_pages": 5})
        assert body["next_sync_at"] is not None
        for bad, message in (
            ({"schedule": "30s"}, "shorter than the shortest allowed"),
            ({"settings": {"max_pages": 0}}, "max_pages"),
            ({"url": "http://169.254.169.254/"}, "169.254.169.254"),
        ):
            response = client.patch(one, json=bad)
            assert response.status_code == 422 and message in response.text, (bad, response.text)
        assert client.get(one).json()["schedule_s"] == 3600  # a refused change changes nothing
        assert client.patch(f"{url}/nope", json={"tags": []}).status_code == 404
