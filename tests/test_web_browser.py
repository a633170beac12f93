"""The review web page in a real headless Chromium (the Debian package, driven by Playwright).

The app runs under uvicorn on 127.0.0.1 (a free port) in a thread. Screenshots
of every step go to test-output/screenshots/.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from callbot.audio import write_wav
from callbot.config.load import load_config
from callbot.store.store import Store
from callbot.passwords import hash_password
from tests.conftest import REPO, tone
from tests.test_web import COLD, PASSWORD, seed_store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
SHOTS = REPO / "test-output" / "screenshots"

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path, monkeypatch, request):
    language = getattr(request.module, "WEB_LANGUAGE", "en")  # these tests read English; see test_phone_layout
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (Debian: apt-get install chromium)")
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install playwright; no `playwright install` needed)")
    import uvicorn

    from callbot.web.app import create_app

    monkeypatch.delenv("CALLBOT_WEB_PASSWORD_HASH", raising=False)
    monkeypatch.delenv("CALLBOT_WEB_SECRET", raising=False)
    prompts = tmp_path / "prompts"
    for lang in ("de", "en"):
        shutil.copytree(REPO / "prompts" / lang, prompts / lang)
    recordings = tmp_path / "recordings"
    rel = "2026/11/call-identity.wav"
    (recordings / "2026" / "11").mkdir(parents=True)
    write_wav(recordings / rel, tone(4.0, 440, dbfs=-30))
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        f'[storage]\ndatabase = "{tmp_path}/calls.db"\nrecordings = "{recordings}"\n'
        f'[prompts]\ndir = "{prompts}"\nlanguage = "de"\n[tts]\ncache = "{tmp_path}/cache"\n'
        f'[web]\nlanguage = "{language}"\npassword_hash = "{hash_password(PASSWORD, n=2**10)}"\nper_page = 10\n',
        encoding="utf-8",
    )
    config = load_config(config_path, env={})
    ids = seed_store(config.storage.database, rel)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="web-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "ids": ids, "config": config, "tmp": tmp_path}
    finally:
        server.should_exit = True
        thread.join(10)


def test_review_page_in_chromium(server, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    base = server["url"]
    media: list[tuple[str, int, str | None]] = []

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(15000)

            def seen(response) -> None:
                if "/recordings/" in response.url:
                    media.append((response.url, response.status, response.request.headers.get("range")))

            page.on("response", seen)

            # 1. log in (the calls page sends us to the login form and back)
            page.goto(f"{base}/calls")
            assert "/login" in page.url
            page.fill("input[name=password]", PASSWORD)
            page.screenshot(path=str(SHOTS / "01-login.png"))
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/calls")
            assert "27 calls" in page.inner_text("p.summary")
            page.screenshot(path=str(SHOTS / "02-calls.png"), full_page=True)

            # 2. filter: outcome and a word from the transcript
            page.select_option("select[name=outcome]", "cold_call_countered")
            page.fill("input[name=q]", "Strom")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**/calls?*")
            assert page.inner_text("p.summary").startswith("1 call")
            page.screenshot(path=str(SHOTS / "03-filtered.png"), full_page=True)

            # 3. open the call
            page.click("table.calls tbody a[href^='/calls/']")
            page.wait_for_url(f"{base}/calls/{server['ids']['cold']}")
            assert "Max Mustermann von Energie Direkt" in page.inner_text("ol.turns")
            page.screenshot(path=str(SHOTS / "04-call.png"), full_page=True)

            # 4. play a recording: the browser fetches it with Range requests
            state = page.evaluate(
                """async () => {
                    const a = document.querySelector('ol.turns audio');
                    a.muted = true;
                    a.preload = 'auto';
                    a.load();
                    await new Promise((ok, fail) => {
                        if (a.readyState >= 2) return ok();
                        a.addEventListener('loadeddata', ok, {once: true});
                        a.addEventListener('error', () => fail(new Error('media error ' + (a.error && a.error.code))),
                                           {once: true});
                    });
                    let played = false;
                    try { await a.play(); played = true; } catch (e) { played = String(e); }
                    const t0 = Date.now();
                    while (played === true && a.currentTime < 0.3 && Date.now() - t0 < 5000) {
                        await new Promise(r => setTimeout(r, 100));
                    }
                    a.pause();
                    const advanced = a.currentTime;
                    // seeking past the start makes the browser ask for a byte range
                    a.currentTime = 3.0;
                    await new Promise(r => { if (!a.seeking) r(); a.addEventListener('seeked', r, {once: true}); });
                    return {readyState: a.readyState, duration: a.duration, currentTime: a.currentTime, played, advanced};
                }"""
            )
            assert state["readyState"] >= 2, state
            assert state["duration"] == pytest.approx(4.0, abs=0.05), state
            assert state["played"] is True and state["advanced"] >= 0.3, state  # it really played
            assert state["currentTime"] >= 2.9, state
            assert any(status == 206 and rng for _, status, rng in media), media
            page.screenshot(path=str(SHOTS / "05-recording.png"), full_page=True)

            # 5. block the number (form submit with a reason)
            page.fill("#block-form input[name=reason]", "Strom-Drücker")
            page.click("#block-form button[type=submit]")
            page.wait_for_selector("p.flash.ok")
            assert f"{COLD} is blocked." in page.inner_text("p.flash.ok")
            assert "blocked" in page.inner_text("section.lists-box p.status")
            page.screenshot(path=str(SHOTS / "06-blocked.png"), full_page=True)
            store = Store(server["config"].storage.database)
            assert [(e.list, e.value, e.created_by) for e in store.list_entries()] == [("block", COLD, "owner")]

            # 6. upload a recording for a prompt
            recording = tmp_path / "goodbye-upload.wav"
            t = np.arange(16000 * 2) / 16000
            soundfile.write(str(recording), (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16000)
            page.goto(f"{base}/prompts")
            assert "✓" in page.inner_text("#script")
            row = page.locator("#prompt-goodbye")
            row.locator("input[type=file]").set_input_files(str(recording))
            row.locator("form.upload button[type=submit]").click()
            page.wait_for_selector("p.flash")
            assert "goodbye: saved as goodbye.wav" in page.inner_text("p.flash")
            assert "recording goodbye.wav" in page.locator("#prompt-goodbye").inner_text()
            assert (server["config"].prompts.dir / "de" / "goodbye.wav").read_bytes() == recording.read_bytes()
            page.screenshot(path=str(SHOTS / "07-prompt-uploaded.png"), full_page=True)

            # what callers hear now: the rendered prompt plays in the browser as well
            duration = page.evaluate(
                """async () => {
                    const a = document.querySelector('#prompt-goodbye audio');
                    a.preload = 'metadata'; a.load();
                    await new Promise(r => { if (a.readyState >= 1) r(); a.addEventListener('loadedmetadata', r, {once: true}); });
                    return a.duration;
                }"""
            )
            assert 1.5 < duration < 2.5
        finally:
            context.close()
