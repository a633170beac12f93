"""The inbox in a real headless Chromium, as two users: the owner adds a colleague on the
users page, the colleague sets a password with the one-time link (a second browser context),
takes an item and writes a note; the owner sees it and closes it — in German, at a phone's
390 px and a desktop's 1280 px, with no horizontal scrolling on any page of the flow. Asserts
on element ids and classes, not on texts. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import re

import pytest

from callbot.store.store import Store
from tests.test_web import PASSWORD
from tests.test_web_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, server, sync_playwright  # noqa: F401

pytestmark = pytest.mark.browser

#: The browser tests' server with the default language (German).
WEB_LANGUAGE = "de"

OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


def fits(page) -> None:
    """No horizontal scrolling at this width (and the page is the German one)."""
    assert page.evaluate(OVERFLOW), (page.url, page.evaluate("document.documentElement.scrollWidth"))
    assert page.evaluate("document.documentElement.lang") == "de"


@pytest.mark.parametrize("width, height", [(390, 844), (1280, 800)])
def test_inbox_as_two_users_in_chromium(server, tmp_path, width, height):
    SHOTS.mkdir(parents=True, exist_ok=True)
    base, cold, genuine = server["url"], server["ids"]["cold"], server["ids"]["genuine"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            owner = browser.new_context(viewport={"width": width, "height": height}).new_page()
            owner.set_default_timeout(15000)
            owner.goto(f"{base}/")
            owner.fill("input[name=password]", PASSWORD)
            owner.click("form[action='/login'] button[type=submit]")
            owner.wait_for_url(f"{base}/inbox")
            ids = [int(x.get_attribute("data-call")) for x in owner.query_selector_all("#inbox-items li.item")]
            assert ids == [genuine, cold]
            fits(owner)
            owner.screenshot(path=str(SHOTS / f"inbox-01-owner-{width}.png"), full_page=True)

            owner.goto(f"{base}/users")
            owner.fill("#add-user-form input[name=name]", "anna")
            owner.select_option("#add-user-form select[name=role]", "staff")
            owner.click("#add-user-form button[type=submit]")
            fits(owner)
            link = owner.input_value("#setup-link-url")
            assert re.search(r"/setup\?token=[\w-]+$", link)

            anna = browser.new_context(viewport={"width": width, "height": height}).new_page()
            anna.set_default_timeout(15000)
            anna.goto(link)
            anna.fill("#setup-form input[name=password]", "annas password")
            anna.fill("#setup-form input[name=again]", "annas password")
            anna.click("#setup-form button[type=submit]")
            anna.wait_for_url(f"{base}/inbox")
            anna.click(f"#item-{cold} form.take-form button")
            anna.wait_for_url(f"{base}/inbox/{cold}")
            assert anna.inner_text("#thread-state .assignee") == "anna"
            anna.fill("#note-form textarea[name=note]", "Rückruf morgen 10 Uhr")
            anna.click("#note-form button[type=submit]")
            anna.wait_for_selector("#history li.note")
            assert "Rückruf morgen 10 Uhr" in anna.inner_text("#history li.note")
            fits(anna)
            anna.goto(f"{base}/inbox?who=mine")
            assert [int(x.get_attribute("data-call")) for x in anna.query_selector_all("#inbox-items li.item")] == [cold]
            fits(anna)
            anna.screenshot(path=str(SHOTS / f"inbox-02-anna-mine-{width}.png"), full_page=True)
            assert anna.goto(f"{base}/users").status == 403  # staff

            owner.goto(f"{base}/inbox")
            assert owner.inner_text(f"#item-{cold} .assignee") == "anna"
            owner.click(f"#item-{cold} a.thread-link")
            owner.wait_for_url(f"{base}/inbox/{cold}")
            assert "anna" in owner.inner_text("#history li.note .who")
            owner.fill("#done-form input[name=note]", "erledigt")
            owner.click("#done-form button[type=submit]")
            owner.wait_for_selector("#thread-state.state-done")
            owner.goto(f"{base}/inbox")
            ids = [int(x.get_attribute("data-call")) for x in owner.query_selector_all("#inbox-items li.item")]
            assert ids == [genuine]
            fits(owner)
            owner.screenshot(path=str(SHOTS / f"inbox-03-owner-done-{width}.png"), full_page=True)
        finally:
            browser.close()
    store = Store(server["config"].storage.database)
    try:
        history = [(h.who, h.field, h.new) for h in store.inbox_history([cold])]
        assert history == [("anna", "state", "in_progress"), ("anna", "assignee", "anna"),
                           ("anna", "note", "Rückruf morgen 10 Uhr"), ("owner", "state", "done"),
                           ("owner", "note", "erledigt")]
    finally:
        store.close()
