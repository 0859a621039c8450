"""The widget in a real browser: headless Chromium (Debian's package) driven by Playwright, against
the real service on loopback. Type a question, see the streamed answer with its citations, rate it,
leave an email, ask for a person and see their reply (setup and skips: tests/browser.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from backend.api.app import create_app
from backend.encoder.base import Embedder
from backend.settings import Settings
from tests.browser import CHROMIUM_ARGS, browser_or_skip, serve
from tests.conftest import AUTH, wait_until
from tests.fixtures_docs import SHIPPING_TXT
from tests.webhook_receiver import start_receiver


@pytest.fixture
def server(make_settings: Callable[..., Settings], embedder: Embedder) -> Iterator[str]:
    app = create_app(make_settings(ingest={"url_allowlist": ["127.0.0.1"]}), embedder=embedder)
    with serve(app) as url:
        yield url


@pytest.mark.slow
def test_a_visitor_chats_rates_leaves_an_email_and_reaches_a_person(server: str) -> None:
    chromium = browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    receiver, hooks = start_receiver()
    api = httpx.Client(base_url=server, headers=AUTH, timeout=60)
    kb_id = api.post("/v1/knowledge-bases", json={"name": "shop"}).json()["id"]
    job = api.post(
        f"/v1/knowledge-bases/{kb_id}/documents",
        files=[("files", ("shipping.txt", SHIPPING_TXT, "text/plain"))],
    ).json()["documents"][0]["job_id"]
    wait_until(lambda: api.get(f"/v1/jobs/{job}").json()["status"] == "succeeded")
    widget = {"allowed_origins": [server], "assistant_name": "Shipbot", "webhook_url": receiver.url}
    assert api.patch(f"/v1/knowledge-bases/{kb_id}", json={"widget": widget}).status_code == 200
    key = api.post(f"/v1/knowledge-bases/{kb_id}/keys", json={"kind": "widget"}).json()["key"]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server}/widget/demo?key={key}")
        page.locator(".launcher").click()  # Playwright's CSS locators pierce the shadow root
        page.locator("form.ask input").fill("Where do orders ship from?")
        page.locator("form.ask input").press("Enter")
        answer = page.locator(".msg.bot").nth(1)
        expect(answer).to_contain_text("Rotterdam", timeout=30_000)
        expect(answer.locator(".cites li")).to_have_count(1)
        expect(answer.locator(".cites li").first).to_contain_text("shipping")
        answer.get_by_role("button", name="rate up").click()
        expect(answer).to_contain_text("Thanks for the feedback.")

        page.get_by_role("button", name="Leave your email").click()
        page.locator(".lead input[name=email]").fill("not-an-email")
        page.locator(".lead button").click()
        expect(page.locator(".msg.note").last).to_contain_text("check the email")
        page.locator(".lead input[name=email]").fill("ada@example.com")
        page.locator(".lead input[name=name]").fill("Ada")
        page.locator(".lead button").click()
        expect(page.locator(".msg.ok").last).to_contain_text("in touch")

        page.get_by_role("button", name="Talk to a person").click()
        expect(page.locator(".msg.ok").last).to_contain_text("A person will reply here.")
        conversation = api.get(f"/v1/knowledge-bases/{kb_id}/conversations", params={"handoff": True}).json()
        assert len(conversation) == 1
        api.post(
            f"/v1/knowledge-bases/{kb_id}/conversations/{conversation[0]['id']}/messages",
            json={"content": "Hi, this is Bob from support."},
        )
        expect(page.locator(".msg.agent")).to_contain_text("Bob from support", timeout=15_000)

        # Released: the assistant answers the next question again, streamed and cited.
        api.post(f"/v1/knowledge-bases/{kb_id}/conversations/{conversation[0]['id']}/release")
        page.locator("form.ask input").fill("Do orders ship the same day?")
        page.locator("form.ask input").press("Enter")
        expect(page.locator(".msg.bot").last).to_contain_text("noon", timeout=30_000)
        expect(page.locator(".msg.bot").last.locator(".cites li")).to_have_count(1)
        browser.close()
    assert errors == []

    summary = api.get(f"/v1/knowledge-bases/{kb_id}/analytics/summary").json()["data"]
    assert summary["feedback_up"] == 1 and summary["leads"] == 1 and summary["waiting_for_a_person"] == 0
    wait_until(
        lambda: (
            [len(receiver.events(e)) for e in ("lead.created", "handoff.requested", "handoff.released")]
            == [1, 1, 1]
        )
    )
    assert receiver.events("lead.created")[0]["data"]["name"] == "Ada"
    hooks.shutdown()
    api.close()
