"""The admin console in a real browser (tests/browser.py): sign in, create a knowledge base, upload two
files and watch them become ready, keep a page in sync as a source, ask in the playground and open a
citation beside the retrieval trace, take a conversation over as a person, see the question that found
nothing in analytics, fine-tune from a pairs file and see its chart, activate it and roll back, rename,
create a widget key and see the live preview; a scoped key sees its own knowledge base only.
Screenshots of each step are left in ``test-artifacts/screenshots`` for a reviewer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from backend.api.app import create_app
from backend.encoder.base import Embedder
from backend.settings import Settings
from tests.browser import CHROMIUM_ARGS, SCREENSHOTS, browser_or_skip, serve
from tests.conftest import AUTH, TOKEN
from tests.fixtures_docs import PAIRS, RETURNS, SHIPPING_TXT


@pytest.fixture
def server(make_settings: Callable[..., Settings], embedder: Embedder) -> Iterator[str]:
    settings = make_settings(ingest={"url_allowlist": ["127.0.0.1"]})  # the page it adds is its own
    with serve(create_app(settings, embedder=embedder)) as url:
        yield url


def test_the_console_serves_a_strict_page(server: str) -> None:
    page = httpx.get(f"{server}/console", follow_redirects=True)
    assert page.status_code == 200 and "kbchat console" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    script = httpx.get(f"{server}/console/console.js")
    assert script.headers["content-type"].startswith("application/javascript")
    missing = httpx.get(f"{server}/console/settings.py")
    assert missing.status_code == 404 and "/console/" in missing.json()["error"]["message"]
    assert httpx.get(f"{server}/console/..%2F..%2Fservices.py").status_code == 404
    files = ("", "console.js", "console.css")
    assert sum(len(httpx.get(f"{server}/console/{f}").content) for f in files) < 100_000  # first page


@pytest.mark.slow
def test_sign_in_create_upload_ask_rename_and_a_scoped_key(server: str) -> None:
    chromium = browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    api = httpx.Client(base_url=server, headers=AUTH, timeout=60)
    other = api.post("/v1/knowledge-bases", json={"name": "someone else's"}).json()["id"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        page.goto(f"{server}/console")
        page.get_by_label("Admin token or API key").fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert").first).to_contain_text("wrong bearer token")
        page.get_by_label("Admin token or API key").fill(TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#who")).to_have_text("admin")
        page.screenshot(path=SCREENSHOTS / "console-1-signed-in.png")

        page.get_by_label("New knowledge base").fill("shop")
        page.get_by_role("button", name="Create", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("shop")
        page.get_by_label("Upload documents").set_input_files(
            [
                {"name": "returns.txt", "mimeType": "text/plain", "buffer": RETURNS.encode()},
                {"name": "shipping.txt", "mimeType": "text/plain", "buffer": SHIPPING_TXT},
            ]
        )
        ready = page.locator("#docs td.status-ready")
        expect(ready).to_have_count(2, timeout=60_000)  # refreshed live, no reload
        page.get_by_label("Add a page or a sitemap by URL").fill(f"{server}/widget/demo")
        page.get_by_role("button", name="Add", exact=True).click()
        expect(ready).to_have_count(3, timeout=60_000)
        expect(page.locator("#docs")).to_contain_text("kbchat widget demo")  # the page's title
        page.get_by_label("Type").select_option("text/html")  # the filters offer the types present
        expect(page.locator("#docs tbody tr")).to_have_count(1)
        page.get_by_label("Type").select_option("")
        page.get_by_label("Find").fill("RETURNS")
        expect(page.locator("#docs tbody tr")).to_have_count(1)
        expect(page.locator("#docs tbody")).to_contain_text("returns.txt")
        page.get_by_label("Find").fill("")
        page.get_by_role("button", name="shipping.txt", exact=True).click()
        expect(page.locator("#chunks")).to_contain_text("passages 1–1 of 1")
        expect(page.locator("#chunks li")).to_contain_text("Rotterdam")
        page.screenshot(path=SCREENSHOTS / "console-2-content.png")

        page.get_by_role("tab", name="Sources").click()
        page.get_by_label("Kind").select_option("page")
        page.get_by_label("Keep in sync with").fill(f"{server}/widget/demo")
        page.get_by_label("Sync", exact=True).select_option("1d")
        page.get_by_role("button", name="Add source").click()
        row = page.locator("#sources tbody tr")
        expect(row).to_contain_text("every day")
        expect(row.locator("td.status-ok")).to_have_count(1, timeout=60_000)  # polled until the sync ends
        expect(row).to_contain_text("added 1")
        row.get_by_role("button", name=f"Sync {server}/widget/demo now").click()
        expect(row).to_contain_text("unchanged 1", timeout=60_000)  # a 200 with the same bytes: not embedded
        page.get_by_role("button", name=f"{server}/widget/demo", exact=True).click()
        expect(page.locator("#source-history > ol > li")).to_have_count(2)
        expect(page.locator("#source-history")).to_contain_text("unchanged 1")
        page.screenshot(path=SCREENSHOTS / "console-2b-sources.png")

        page.get_by_role("tab", name="Playground").click()
        page.get_by_label("Ask this knowledge base").fill("Where do orders ship from?")
        page.get_by_role("button", name="Ask").click()
        expect(page.locator("#answer")).to_contain_text("Rotterdam", timeout=30_000)
        page.locator("#citations button.cite").first.click()
        expect(page.locator("#cited")).to_contain_text("Rotterdam")
        expect(page.locator("#trace tbody tr").first).to_contain_text("shipping.txt")
        expect(page.locator("#trace tbody tr").first).to_contain_text("kept")  # over the answer cut
        expect(page.locator("#trace")).to_contain_text("candidates")  # milliseconds per stage
        expect(page.locator("#citations")).to_contain_text("confidence")
        page.screenshot(path=SCREENSHOTS / "console-3-playground.png", full_page=True)

        page.get_by_label("Ask this knowledge base").fill("Can I pay with bitcoin?")
        page.get_by_role("button", name="Ask").click()
        expect(page.locator("#answer")).to_contain_text("couldn't find", timeout=30_000)
        expect(page.locator("#trace tbody tr").first).to_contain_text("cut")  # nothing clears it
        page.get_by_role("tab", name="Analytics").click()
        expect(page.locator("dl.figures")).to_contain_text("Questions2")
        gaps = page.locator("#analytics > section", has=page.get_by_role("heading", name="Content gaps"))
        expect(gaps.locator("tbody tr")).to_have_count(1)
        expect(gaps).to_contain_text("bitcoin")
        with page.expect_download() as download:
            page.get_by_role("button", name="Content gaps as CSV").click()
        assert "bitcoin" in download.value.path().read_text()
        page.screenshot(path=SCREENSHOTS / "console-4-analytics.png", full_page=True)
        gaps.get_by_role("button", name="Add a document").click()
        expect(page.get_by_role("tab", name="Content")).to_have_attribute("aria-selected", "true")

        page.get_by_role("tab", name="Conversations").click()
        expect(page.locator("#conversations tbody tr")).to_have_count(2)
        page.get_by_label("only conversations waiting for a person").check()
        expect(page.locator("#conversations")).to_contain_text("Nobody is waiting")
        page.get_by_label("only conversations waiting for a person").uncheck()
        page.locator("#conversations tbody tr").first.get_by_role("button", name="Open").click()
        page.get_by_role("button", name="Take over as a person").click()
        page.get_by_label("Answer as a person", exact=False).fill("Hi, Ada from support here.")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#thread li.msg-agent")).to_contain_text("Ada from support")
        expect(page.locator("#conversations")).to_contain_text("yes")  # the list follows
        page.screenshot(path=SCREENSHOTS / "console-5-conversations.png", full_page=True)
        page.get_by_role("button", name="Give back to the assistant").click()
        expect(page.get_by_role("button", name="Take over as a person")).to_be_visible()

        page.get_by_role("tab", name="Encoders").click()
        expect(page.locator("#versions")).to_contain_text("base (the configured model)")
        lines = "\n".join(json.dumps(p) for p in PAIRS).encode()
        page.get_by_label("Question–passage pairs", exact=False).set_input_files(
            {"name": "pairs.jsonl", "mimeType": "application/json", "buffer": lines}
        )
        page.get_by_label("Version name", exact=False).fill("console-v1")
        page.get_by_label("Batch size", exact=False).fill("4")
        page.get_by_role("button", name="Start fine-tuning").click()
        trained = page.locator("#train-progress")
        expect(trained).to_contain_text(re.compile("succeeded|failed"), timeout=300_000)
        assert "succeeded" in trained.inner_text(), trained.inner_text()
        expect(page.locator("#train-progress")).to_contain_text("held-out nDCG@10")
        expect(page.locator("#versions")).to_contain_text("console-v1")
        expect(page.locator("#versions img.chart")).to_have_count(1)
        page.screenshot(path=SCREENSHOTS / "console-6-encoders.png", full_page=True)
        page.get_by_role("button", name="Activate console-v1").click()  # re-embeds this KB, then switches
        expect(page.locator("#serving")).to_have_text("console-v1", timeout=120_000)
        expect(trained).to_contain_text("succeeded")
        page.get_by_role("button", name="Roll back to base").click()
        expect(page.locator("#serving")).to_have_text("base", timeout=120_000)

        page.get_by_role("tab", name="Settings").click()
        page.get_by_label("Name", exact=True).fill("shoe shop")
        page.get_by_label("System prompt", exact=False).fill("You answer for Acme's shoe shop.")
        page.get_by_label("Who answers", exact=False).fill("nowhere:model-x")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("alert").first).to_contain_text("nowhere")  # the API's message, readable
        page.get_by_label("Who answers", exact=False).fill("extractive")
        page.get_by_label("Answer only above this confidence", exact=False).fill("0.4")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("shoe shop")
        page.get_by_role("tab", name="Settings").click()  # read back from the server
        expect(page.get_by_label("Who answers", exact=False)).to_have_value("extractive")
        expect(page.get_by_label("Answer only above this confidence", exact=False)).to_have_value("0.4")
        page.screenshot(path=SCREENSHOTS / "console-7-settings.png")

        page.get_by_role("tab", name="Keys & widget").click()
        page.get_by_label("Kind").select_option("widget")
        page.get_by_role("button", name="Create key").click()
        secret = page.locator("#new-key pre").inner_text()
        assert secret.startswith("kbw_")
        expect(page.locator("#snippet")).to_contain_text(f'data-key="{secret}"')
        expect(page.locator("#keys tbody tr")).to_have_count(1)
        page.get_by_label("Allowed origins (one per line, e.g. https://help.example.com)").fill(server)
        page.get_by_label("Colour").fill("#aa3300")
        page.get_by_role("button", name="Save widget settings").click()
        preview = page.frame_locator("iframe.preview")
        expect(preview.locator(".launcher")).to_have_count(1, timeout=15_000)  # the widget, live
        expect(page.locator("#main")).not_to_contain_text("null")  # no missing value printed as text
        page.screenshot(path=SCREENSHOTS / "console-8-keys-widget.png", full_page=True)
        page.once("dialog", lambda dialog: dialog.accept())  # "Revoke this key?"
        page.get_by_role("button", name="Revoke").click()
        expect(page.locator("#keys tbody tr").first).to_contain_text("revoked")

        kbs = api.get("/v1/knowledge-bases").json()["data"]
        kb_id = next(kb["id"] for kb in kbs if kb["name"] == "shoe shop")
        saved = api.get(f"/v1/knowledge-bases/{kb_id}").json()
        assert saved["chat"]["system_prompt"] == "You answer for Acme's shoe shop."
        assert saved["widget"]["primary_color"] == "#aa3300"
        assert saved["widget"]["allowed_origins"] == [server]
        key = api.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"scopes": ["read", "search"]}).json()["key"]
        page.get_by_role("button", name="Sign out").click()
        page.get_by_label("Admin token or API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#nav li")).to_have_count(1)
        expect(page.get_by_role("heading", level=1)).to_have_text("shoe shop")
        expect(page.locator("#nav")).not_to_contain_text("someone else")
        expect(page.get_by_label("Upload documents")).to_have_count(0)  # no write scope
        page.screenshot(path=SCREENSHOTS / "console-9-scoped-key.png")
        browser.close()
    assert errors == []
    assert api.get(f"/v1/knowledge-bases/{other}").status_code == 200  # untouched
