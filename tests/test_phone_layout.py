"""Phone-sized (issue #13, 6 and 7): every page of the review web page, in German, fits a phone
(390 × 844) and a desktop window (1280 × 800) without sideways scrolling —
``document.documentElement.scrollWidth <= innerWidth`` — in the system Chromium (headless,
driven by Playwright, as tests/test_web_browser.py). Skips when Chromium or Playwright is missing.

Besides the fixed pages, every GET page of the app without a path parameter is visited, so new
pages are measured too. The widths go to test-output/phone-layout.json; screenshots of the phone
size to test-output/screenshots/phone-*.png.
"""

from __future__ import annotations

import json
import re

import pytest

from callbot.store.store import Store
from tests.conftest import REPO
from tests.test_web import COLD, GENUINE, PASSWORD
from tests.test_web_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, server, sync_playwright  # noqa: F401

#: The browser tests' server with the default language (German).
WEB_LANGUAGE = "de"

pytestmark = pytest.mark.browser

SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
SKIP_PATHS = {"/logout", "/login"}  # /login is measured before logging in


def _pages(app, ids: dict[str, int]) -> list[str]:
    fixed = ["/calls", "/calls?q=Strom", f"/calls/{ids['cold']}", f"/calls/{ids['genuine']}",
             f"/numbers/{COLD}", f"/numbers/{GENUINE}", "/leads", "/lists", "/prompts", "/prompts?lang=en",
             "/calls/99999"]
    found = []
    for route in app.routes:
        path, methods = getattr(route, "path", ""), getattr(route, "methods", None) or set()
        if "GET" in methods and "{" not in path and path not in SKIP_PATHS and path not in fixed:
            found.append(path)
        if "GET" in methods and re.fullmatch(r"/\w+/\{call_id(:int)?\}", path) and not path.startswith("/calls"):
            found.append(path.split("{")[0] + str(ids["cold"]))  # e.g. a call's thread in the inbox
    return fixed + sorted(set(found))


def _add_list_entries(database) -> None:
    store = Store(database, default_region="DE")
    try:
        store.add_list_entry("block", "number", COLD, "Strom-Drücker, ruft jede Woche mit neuen Tarifen an",
                             source="manual", created_by="owner").result(10)
        store.add_list_entry("block", "prefix", "+4930999*", "Callcenter-Nummernbereich",
                             source="manual", created_by="owner").result(10)
        store.add_list_entry("allow", "name", "Steuerbüro*", "Unsere Steuerberaterin",
                             source="manual", created_by="owner").result(10)
    finally:
        store.close()


def _measure(page) -> dict:
    return page.evaluate("""() => ({scrollWidth: document.documentElement.scrollWidth,
                                    innerWidth: window.innerWidth, lang: document.documentElement.lang})""")


def test_every_page_fits_a_phone_and_a_desktop_in_german(server, tmp_path):
    from callbot.web.app import create_app

    _add_list_entries(server["config"].storage.database)
    base = server["url"]
    paths = _pages(create_app(server["config"]), server["ids"])
    SHOTS.mkdir(parents=True, exist_ok=True)
    widths: dict[str, dict[str, int]] = {}
    too_wide = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            for size, (width, height) in SIZES.items():
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                page.set_default_timeout(15000)
                page.goto(f"{base}/login")
                m = _measure(page)
                widths.setdefault("/login", {})[size] = m["scrollWidth"]
                if m["scrollWidth"] > m["innerWidth"]:
                    too_wide.append(f"/login at {size}: {m['scrollWidth']} > {m['innerWidth']}")
                assert m["lang"] == "de" and "Anmelden" in page.inner_text("main")
                page.fill("input[name=password]", PASSWORD)
                page.click("main button[type=submit]")
                page.wait_for_load_state()
                for path in paths:
                    page.goto(base + path)
                    m = _measure(page)
                    widths.setdefault(path, {})[size] = m["scrollWidth"]
                    assert m["lang"] == "de", path
                    if m["scrollWidth"] > m["innerWidth"]:
                        too_wide.append(f"{path} at {size}: {m['scrollWidth']} > {m['innerWidth']}")
                    if size == "phone":
                        name = re.sub(r"[^\w]+", "-", path).strip("-") or "home"
                        page.screenshot(path=str(SHOTS / f"phone-{name}.png"), full_page=True)
                context.close()
        finally:
            browser.close()
    out = REPO / "test-output"
    out.mkdir(exist_ok=True)
    (out / "phone-layout.json").write_text(json.dumps(widths, indent=1), encoding="utf-8")
    assert not too_wide, "pages that scroll sideways:\n" + "\n".join(too_wide)


def test_the_call_page_on_a_phone_leads_with_who_why_and_the_verdict(server, tmp_path):
    base, cold = server["url"], server["ids"]["cold"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(f"{base}/login")
            page.fill("input[name=password]", PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_load_state()
            page.goto(f"{base}/calls/{cold}")
            head = page.locator("section.call-head")
            assert head.is_visible() and "Werbeanruf" in head.inner_text()
            # the head and the conversation come first, within the first screens; the trail is folded
            head_box = head.bounding_box()
            turns_box = page.locator("ol.turns").bounding_box()
            assert head_box["y"] < turns_box["y"] < 844 * 1.5
            assert page.locator("details.trail").get_attribute("open") is None
            assert not page.locator("table.events").is_visible()
            audio = page.locator("ol.turns audio").first
            assert audio.get_attribute("preload") == "metadata"
            box = audio.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390
            page.click("details.trail summary")
            assert page.locator("table.events").is_visible()
            m = _measure(page)
            assert m["scrollWidth"] <= m["innerWidth"], m  # the unfolded trail scrolls inside its box
            # the call list on a phone: cards with the verdict and a player, no sideways scroll
            page.goto(f"{base}/calls")
            card = page.locator("table.calls tbody tr").filter(has_text="Max Mustermann")
            assert card.locator("audio").count() == 1
            assert card.locator("td").first.bounding_box()["width"] > 300  # stacked: full width
        finally:
            browser.close()
