"""The review web page over HTTP (Starlette's TestClient): login, CSRF, calls, recordings,
caller lists, prompts and the `callbot web` command."""

from __future__ import annotations

import re
import shutil
import time
import tomllib
import wave
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from starlette.routing import Route
from starlette.testclient import TestClient

from callbot.audio import write_wav
from callbot.config.load import load_config
from callbot.config.model import Config
from callbot.store.store import Store
from callbot.web.auth import LoginLimiter
from callbot.passwords import check_password_hash, hash_password, verify_password
from callbot.web.promptfiles import PromptEditError, set_text_in_source, toml_string
from tests.conftest import REPO, tone

PASSWORD = "correct horse battery"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
COLD = "+4930111111"
GENUINE = "+4989222222"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


# --------------------------------------------------------------------------
# Fixtures


@dataclass
class Site:
    base: Path
    config_path: Path
    config: Config
    recordings: Path
    prompts: Path
    recording_rel: str
    recording_bytes: bytes
    password_hash: str
    ids: dict[str, int]

    def store(self) -> Store:
        return Store(self.config.storage.database, default_region="DE")


def _call(minutes_ago: float, number: str | None, outcome: str, **extra) -> dict:
    started = NOW - timedelta(minutes=minutes_ago)
    row = {
        "started_at": started,
        "answered_at": started + timedelta(seconds=1),
        "ended_at": started + timedelta(seconds=20),
        "duration": 20.0,
        "outcome": outcome,
        "caller_raw": f"<sip:{number}@pbx>" if number else '"Anonymous" <sip:anonymous@anonymous.invalid>',
        "caller_number": number,
        "caller_dialled": number,
        "caller_valid": number is not None,
        "withheld": number is None,
        "events": [{"at": started, "kind": "decision", "rule": "default" if number else "withheld",
                    "reason": "number shown" if number else "Privacy: id"}],
    }
    row.update(extra)
    return row


def seed_store(db: Path, recording_rel: str) -> dict[str, int]:
    rows = []
    # 24 plain calls, one every 6 hours, from a handful of numbers
    for i in range(24):
        rows.append(_call(60 * 24 * 3 + i * 360, f"+49401000{i % 4:03d}", "answered" if i % 3 else "caller_hung_up",
                          label="unclear"))
    rows.append(_call(None or 90, None, "withheld_rejected"))
    start = NOW - timedelta(minutes=30)
    rows.append(_call(
        30, COLD, "cold_call_countered",
        caller_display="<script>alert('x')</script>",
        person="Max Mustermann", company="Energie Direkt GmbH", label="cold_call",
        label_reasons="sales pitch: strom",
        transcript="Max Mustermann von Energie Direkt. Wir bieten Ihnen günstigen Strom an.",
        events=[
            {"at": start, "kind": "decision", "rule": "default", "reason": "number shown"},
            {"at": start + timedelta(seconds=2), "kind": "step", "rule": "greeting", "reason": "say greeting"},
            {"at": start + timedelta(seconds=9), "kind": "classify", "rule": "cold_call", "reason": "sales pitch"},
        ],
        turns=[
            {"seq": 1, "speaker": "bot", "prompt_id": "greeting", "text": "Guten Tag.", "started_at": start,
             "duration": 1.5},
            {"seq": 2, "speaker": "caller", "field": "identity", "text": "Max Mustermann von Energie Direkt",
             "started_at": start + timedelta(seconds=2), "duration": 2.0, "confidence": 0.91,
             "recording": recording_rel, "end_reason": "speech_stopped"},
            {"seq": 3, "speaker": "caller", "field": "contact_details", "text": "Meine Nummer ist 0301234",
             "started_at": start + timedelta(seconds=6), "duration": 2.0, "recording": recording_rel,
             "end_reason": "speech_stopped"},
        ],
        leads=[{"turn_seq": 3, "field": "contact_details", "created_at": start + timedelta(seconds=8),
                "text": "Meine Nummer ist 0301234", "recording": recording_rel}],
    ))
    rows.append(_call(20, GENUINE, "message_taken", person="Erika Muster", label="genuine",
                      transcript="Rückruf wegen Ihrer Rechnung bitte"))
    store = Store(db, default_region="DE")
    try:
        assert store.bulk_insert_calls(rows).result(10) == len(rows)
        newest = store.search_calls(page=1, per_page=3)[0]
    finally:
        store.close()
    by_number = {r.caller_number: r.id for r in newest}
    return {"cold": by_number[COLD], "genuine": by_number[GENUINE]}


#: The page's language in these tests (their assertions read English); a test module that
#: uses this site may set its own ``WEB_LANGUAGE`` (tests/test_i18n.py: the German default).
WEB_LANGUAGE = "en"


@pytest.fixture
def site(tmp_path: Path, monkeypatch, request) -> Site:
    language = getattr(request.module, "WEB_LANGUAGE", WEB_LANGUAGE)
    monkeypatch.delenv("CALLBOT_WEB_PASSWORD_HASH", raising=False)
    monkeypatch.delenv("CALLBOT_WEB_SECRET", raising=False)
    prompts = tmp_path / "prompts"
    for lang in ("de", "en"):
        shutil.copytree(REPO / "prompts" / lang, prompts / lang)
    recordings = tmp_path / "recordings"
    rel = "2026/11/call-1-identity.wav"
    (recordings / "2026" / "11").mkdir(parents=True)
    write_wav(recordings / rel, tone(1.0, 440))
    (recordings / "notes.txt").write_text("not audio")
    (tmp_path / "secret.wav").write_bytes((recordings / rel).read_bytes())
    password_hash = hash_password(PASSWORD, n=2**10)  # cheap for tests; the format carries n
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        "[storage]\n"
        f'database = "{tmp_path}/calls.db"\n'
        f'recordings = "{recordings}"\n'
        "[prompts]\n"
        f'dir = "{prompts}"\n'
        'language = "de"\n'
        "[tts]\n"
        f'cache = "{tmp_path}/cache"\n'
        "[web]\n"
        f'language = "{language}"\n'
        f'password_hash = "{password_hash}"\n'
        'session_secret = "test-secret-0123456789-abcdefghijklmnop"\n'
        "per_page = 10\n",
        encoding="utf-8",
    )
    config = load_config(config_path, env={})
    ids = seed_store(config.storage.database, rel)
    return Site(tmp_path, config_path, config, recordings, prompts, rel, (recordings / rel).read_bytes(),
                password_hash, ids)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_client(site: Site, clock: Clock | None = None, config: Config | None = None,
                base_url: str = "http://testserver") -> TestClient:
    from callbot.web.app import create_app

    limiter = LoginLimiter(clock=clock) if clock is not None else None
    return TestClient(create_app(config or site.config, limiter=limiter), base_url=base_url,
                      follow_redirects=False)


@pytest.fixture
def anon(site: Site, clock: Clock):
    with make_client(site, clock) as client:
        yield client


@pytest.fixture
def client(anon: TestClient) -> TestClient:
    login(anon)
    return anon


def token_of(client: TestClient, url: str = "/login") -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    match = TOKEN.search(response.text)
    assert match, f"no CSRF field on {url}"
    return match.group(1)


def login(client: TestClient, password: str = PASSWORD, next_url: str = "/calls"):
    token = token_of(client, "/login")
    return client.post("/login", data={"password": password, "csrf_token": token, "next": next_url})


def post(client: TestClient, url: str, data: dict | None = None, page: str = "/calls", **kwargs):
    token = token_of(client, page)
    return client.post(url, data={**(data or {}), "csrf_token": token}, **kwargs)


def follow(client: TestClient, response) -> str:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    page = client.get(response.headers["location"].split("#")[0])
    assert page.status_code == 200
    return page.text


# --------------------------------------------------------------------------
# Passwords and the limiter


def test_password_hash_format_and_verification():
    encoded = hash_password("s3cret!", n=2**10)
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "1024", "8", "1")
    assert salt and digest and check_password_hash(encoded) is None
    assert verify_password("s3cret!", encoded)
    assert not verify_password("s3cret", encoded)
    assert hash_password("s3cret!", n=2**10) != encoded  # random salt
    assert not verify_password("s3cret!", "s3cret!")  # a plain password is no hash
    for bad in ("", "s3cret!", "scrypt$1000$8$1$abc$def", "bcrypt$1$2$3$4$5", "scrypt$1024$8$1$!!$??"):
        assert check_password_hash(bad), bad
        assert not verify_password("s3cret!", bad)


def test_limiter_locks_one_client_for_30_seconds(clock):
    limiter = LoginLimiter(clock=clock)
    for _ in range(4):
        assert limiter.attempt("a") == 0
        assert limiter.retry_after("a") == 0
    assert limiter.attempt("a") == 0  # the fifth attempt goes ahead, and starts the lockout
    assert limiter.retry_after("a") == 30
    assert limiter.attempt("a") == 30
    assert limiter.attempt("b") == 0  # other clients are not affected
    clock.now += 29
    assert 0 < limiter.attempt("a") <= 1
    clock.now += 1.5
    assert limiter.retry_after("a") == 0
    assert limiter.attempt("a") == 0 and limiter.retry_after("a") == 0  # the count started again


def test_limiter_success_clears_the_count(clock):
    limiter = LoginLimiter(clock=clock)
    for _ in range(4):
        limiter.attempt("a")
    limiter.succeeded("a")
    for _ in range(4):
        assert limiter.attempt("a") == 0
    assert limiter.retry_after("a") == 0


# --------------------------------------------------------------------------
# Login


@pytest.mark.parametrize("path", ["/", "/calls", "/calls/1", "/numbers/+4930111111", "/leads", "/lists",
                                  "/prompts", "/recordings/2026/11/call-1-identity.wav",
                                  "/prompts/de/hello/audio.wav"])
def test_pages_need_a_login(anon, path):
    response = anon.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_login_redirects_back_to_the_page_asked_for(anon):
    first = anon.get("/calls?outcome=answered")
    assert first.headers["location"] == "/login?next=%2Fcalls%3Foutcome%3Danswered"
    page = anon.get(first.headers["location"])
    assert 'name="next" value="/calls?outcome=answered"' in page.text
    response = login(anon, next_url="/calls?outcome=answered")
    assert response.status_code == 303
    assert response.headers["location"] == "/calls?outcome=answered"
    assert anon.get("/calls").status_code == 200


def test_login_never_redirects_to_another_site(anon):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        assert login(anon, next_url=target).headers["location"] == "/calls"
        post(anon, "/logout")


def test_wrong_password_is_refused(anon):
    response = login(anon, password="wrong")
    assert response.status_code == 401
    assert "Wrong password" in response.text
    assert anon.get("/calls").status_code == 303


def test_five_wrong_passwords_lock_the_client_out_for_30_seconds(anon, clock):
    for _ in range(4):
        assert login(anon, password="wrong").status_code == 401
    fifth = login(anon, password="wrong")
    assert fifth.status_code == 429
    assert fifth.headers["retry-after"] == "30"
    locked = login(anon)  # even the right password, while locked out
    assert locked.status_code == 429
    assert "Try again in" in locked.text
    assert anon.get("/calls").status_code == 303
    clock.now += 31
    assert login(anon).status_code == 303
    assert anon.get("/calls").status_code == 200


def test_session_cookie_is_httponly_samesite_and_signed(anon):
    response = login(anon)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("callbot_session=")
    flags = cookie.lower()
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "secure" not in flags
    # a forged cookie (the payload changed, the signature not) is no login
    value = cookie.split(";")[0].split("=", 1)[1]
    anon.cookies.clear()
    anon.cookies.set("callbot_session", "x" + value[1:])
    assert anon.get("/calls").status_code == 303


def test_session_cookie_is_secure_when_configured(site, clock):
    config = replace(site.config, web=replace(site.config.web, secure_cookies=True))
    with make_client(site, clock, config, base_url="https://testserver") as client:
        cookie = login(client).headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    with make_client(site, clock, config) as plain:  # a secure cookie never goes over http
        assert login(plain).status_code == 403


def test_a_new_password_ends_existing_sessions(site, clock):
    with make_client(site, clock) as client:
        login(client)
        cookies = dict(client.cookies)
    config = replace(site.config, web=replace(site.config.web, password_hash=hash_password("another one", n=2**10)))
    with make_client(site, clock, config) as other:
        for name, value in cookies.items():
            other.cookies.set(name, value)
        assert other.get("/calls").status_code == 303


def test_a_login_lasts_session_hours(site, clock, monkeypatch):
    import callbot.web.middleware as web_middleware

    with make_client(site, clock) as client:
        login(client)
        assert client.get("/calls").status_code == 200
        # the cookie itself would still be valid (its max-age starts again with every response) ...
        monkeypatch.setattr(web_middleware, "_now", lambda: time.time() + site.config.web.session_hours * 3600 - 60)
        assert client.get("/calls").status_code == 200
        # ... but a login ends session_hours after it was made
        monkeypatch.setattr(web_middleware, "_now", lambda: time.time() + site.config.web.session_hours * 3600 + 1)
        assert client.get("/calls").status_code == 303


def test_logout_ends_the_session(client):
    assert post(client, "/logout").status_code == 303
    assert client.get("/calls").status_code == 303


# --------------------------------------------------------------------------
# CSRF


def test_post_without_or_with_a_wrong_csrf_token_is_forbidden(client, site):
    url = f"/numbers/{COLD}/block"
    assert client.post(url, data={"reason": "spam"}).status_code == 403
    assert client.post(url, data={"reason": "spam", "csrf_token": "forged"}).status_code == 403
    assert client.post(url, data={"reason": "spam"}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    store = site.store()
    assert store.list_entries() == []
    assert post(client, url, {"reason": "spam"}).status_code == 303
    assert [e.value for e in store.list_entries()] == [COLD]
    # the header form of the token works too
    token = token_of(client, "/calls")
    response = client.post(f"/numbers/{COLD}/unblock", data={"reason": "ok"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 303


def test_login_form_needs_the_csrf_token_too(anon):
    anon.get("/login")
    assert anon.post("/login", data={"password": PASSWORD}).status_code == 403


def test_every_post_route_checks_the_csrf_token(client):
    posts = [r for r in client.app.routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    assert len(posts) >= 10
    for route in posts:
        path = re.sub(r"\{[^}]+\}", lambda m: {"{number}": COLD, "{lang}": "de", "{prompt_id}": "hello"}.get(
            m.group(0), "1"), route.path)
        response = client.post(path, data={"reason": "x", "text": "x", "password": PASSWORD})
        assert response.status_code == 403, (route.path, response.status_code)
    assert client.post("/no/such/page", data={}).status_code == 403


def test_oversized_post_is_refused(client):
    response = client.post("/prompts/render", content=b"x" * 100,
                           headers={"content-length": str(30 * 1024 * 1024),
                                    "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


# --------------------------------------------------------------------------
# Calls


def rows(html: str) -> list[str]:
    return re.findall(r'<a href="/calls/(\d+)">', html)


def test_calls_list_pages(client):
    first = client.get("/calls")
    assert first.status_code == 200
    assert "27 calls, page 1 of 3" in first.text
    assert len(rows(first.text)) == 10
    assert 'href="/calls?page=2"' in first.text and 'rel="next"' in first.text
    second = client.get("/calls?page=2")
    assert len(rows(second.text)) == 10
    assert not set(rows(first.text)) & set(rows(second.text))
    last = client.get("/calls?page=3")
    assert len(rows(last.text)) == 7
    assert 'rel="next"' not in last.text


def test_calls_filters(client, site):
    cold = client.get("/calls?outcome=cold_call_countered")
    assert rows(cold.text) == [str(site.ids["cold"])]
    assert client.get("/calls?label=genuine").text.count('<a href="/calls/') == 1
    number = client.get("/calls?number=089%20222222")  # national form finds the E.164 number
    assert rows(number.text) == [str(site.ids["genuine"])]
    today = NOW.astimezone().strftime("%Y-%m-%d")
    recent = client.get(f"/calls?from={today}")
    assert str(site.ids["cold"]) in rows(recent.text)
    old_day = (NOW - timedelta(days=5)).astimezone().strftime("%Y-%m-%d")
    old = client.get(f"/calls?to={old_day}")
    assert old.status_code == 200 and str(site.ids["cold"]) not in rows(old.text)
    withheld = client.get("/calls?outcome=withheld_rejected")
    assert "withheld" in withheld.text and len(rows(withheld.text)) == 1
    bad = client.get("/calls?outcome=nonsense&from=yesterday")
    assert bad.status_code == 200
    assert "unknown outcome" in bad.text and "must be a date" in bad.text


def test_filters_are_kept_in_page_links(client):
    page = client.get("/calls?outcome=answered")
    assert "page 1 of 2" in page.text
    assert 'href="/calls?outcome=answered&amp;page=2"' in page.text


def test_text_search_over_transcripts(client, site):
    assert rows(client.get("/calls?q=Strom").text) == [str(site.ids["cold"])]
    assert rows(client.get("/calls?q=energ").text) == [str(site.ids["cold"])]  # word prefix, any case
    assert rows(client.get("/calls?q=Rechnung").text) == [str(site.ids["genuine"])]
    assert rows(client.get("/calls?q=nirgendwo").text) == []


def test_call_detail_shows_caller_events_turns_and_recordings(client, site):
    page = client.get(f"/calls/{site.ids['cold']}")
    assert page.status_code == 200
    html = page.text
    assert COLD in html and "Max Mustermann" in html and "Energie Direkt GmbH" in html
    assert "cold call" in html and "sales pitch: strom" in html
    for text in ("decision", "number shown", "classify", "sales pitch", "+2.00 s", "+9.00 s"):
        assert text in html
    assert "Max Mustermann von Energie Direkt" in html and "confidence 0.91" in html
    assert f'<audio controls preload="metadata" src="/recordings/{site.recording_rel}"></audio>' in html
    assert f'href="/numbers/{COLD}"' in html
    assert "Meine Nummer ist 0301234" in html  # the lead
    assert client.get("/calls/99999").status_code == 404


def test_everything_shown_is_escaped(client, site):
    html = client.get(f"/calls/{site.ids['cold']}").text
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    html = client.get("/calls?q=%3Cscript%3E%22").text
    assert 'value="&lt;script&gt;&#34;"' in html


def test_pages_carry_security_headers_and_no_secrets(client, site):
    for path in ("/calls", f"/calls/{site.ids['cold']}", "/lists", "/leads", "/prompts"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert site.password_hash not in response.text
        assert site.config.web.session_secret not in response.text
        assert "<script" not in response.text  # no JavaScript at all


def test_caller_timeline(client, site):
    page = client.get("/numbers/+49401000001")
    assert page.status_code == 200
    assert "6 calls from this number" in page.text
    cold = client.get(f"/numbers/{COLD}")
    assert rows(cold.text) == [str(site.ids["cold"])]
    assert "is on no list" in cold.text
    assert client.get("/numbers/not-a-number").status_code == 404


def test_leads_page(client, site):
    html = client.get("/leads").text
    assert "Meine Nummer ist 0301234" in html and "Energie Direkt GmbH" in html
    assert f'/recordings/{site.recording_rel}' in html


# --------------------------------------------------------------------------
# Recordings


def test_recording_whole_file(client, site):
    response = client.get(f"/recordings/{site.recording_rel}")
    assert response.status_code == 200
    assert response.content == site.recording_bytes
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["content-length"] == str(len(site.recording_bytes))


@pytest.mark.parametrize("header,start,end", [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, None),
    ("bytes=-500", -500, None),
    ("bytes=1000-999999999", 1000, None),
])
def test_recording_range_requests(client, site, header, start, end):
    data = site.recording_bytes
    size = len(data)
    response = client.get(f"/recordings/{site.recording_rel}", headers={"Range": header})
    assert response.status_code == 206
    first = start % size if start < 0 else start
    last = size - 1 if end is None else end
    assert response.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content == data[first : last + 1]


def test_recording_unsatisfiable_range(client, site):
    size = len(site.recording_bytes)
    response = client.get(f"/recordings/{site.recording_rel}", headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    # a malformed or multi-part range is ignored: the whole file
    for header in ("bytes=abc", "bytes=5-2", "bytes=0-1,5-6", "lines=1-2"):
        whole = client.get(f"/recordings/{site.recording_rel}", headers={"Range": header})
        assert whole.status_code == 200 and whole.content == site.recording_bytes, header


def test_if_range_with_an_old_etag_gets_the_whole_file(client, site):
    url = f"/recordings/{site.recording_rel}"
    etag = client.get(url).headers["etag"]
    assert client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}).status_code == 206
    assert client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"old"'}).status_code == 200


@pytest.mark.parametrize("path", [
    "/recordings/..%2Fsecret.wav",
    "/recordings/%2E%2E/secret.wav",
    "/recordings/2026/..%2F..%2Fsecret.wav",
    "/recordings/%2Fetc%2Fpasswd",
    "/recordings//etc/passwd",
    "/recordings/notes.txt",
    "/recordings/2026/11/missing.wav",
    "/recordings/",
])
def test_recordings_outside_the_folder_or_not_audio_are_not_served(client, path):
    assert client.get(path).status_code == 404


def test_symlink_out_of_the_recordings_folder_is_not_served(client, site):
    (site.recordings / "link.wav").symlink_to(site.base / "secret.wav")
    assert client.get("/recordings/link.wav").status_code == 404


# --------------------------------------------------------------------------
# Caller lists


def test_block_allow_unblock(client, site):
    store = site.store()
    here = f"/calls/{site.ids['cold']}"
    html = follow(client, post(client, f"/numbers/{COLD}/block", {"reason": "Strom-Drücker", "next": here}, here))
    assert f"{COLD} is blocked." in html
    assert "blocked</strong> — block: number" in html
    [entry] = store.list_entries()
    assert (entry.list, entry.kind, entry.value, entry.reason, entry.created_by, entry.source) == (
        "block", "number", COLD, "Strom-Drücker", "owner", "manual")

    html = follow(client, post(client, f"/numbers/{COLD}/allow", {"reason": "doch Kunde"}))
    assert "is allowed." in html
    assert [(e.list, e.value) for e in store.list_entries()] == [("allow", COLD)]
    assert "History (1)" in html  # the block stays as history

    html = follow(client, post(client, f"/numbers/{COLD}/unblock", {"reason": "x"}))
    assert "was not on the block list" in html
    follow(client, post(client, f"/numbers/{COLD}/block", {"reason": "wieder"}))
    html = follow(client, post(client, f"/numbers/{COLD}/unblock", {"reason": "Versehen"}))
    assert "is no longer blocked" in html
    assert store.list_entries() == []


def test_block_needs_a_reason(client, site):
    html = follow(client, post(client, f"/numbers/{COLD}/block", {"reason": "   "}))
    assert "Give a reason" in html
    assert site.store().list_entries() == []


def test_lists_page_add_confirm_remove(client, site):
    store = site.store()
    html = follow(client, post(client, "/lists", {"list": "block", "value": "+4930999*", "reason": "Callcenter"},
                               "/lists"))
    assert "+4930999* is on the block list" in html
    suggested = store.add_list_entry("block", "number", "+4917012345678", "3 cold calls", source="suggested",
                                     confirmed=False).result(5)
    html = client.get("/lists").text
    assert "(suggested)" in html and f'/lists/{suggested}/confirm' in html
    follow(client, post(client, f"/lists/{suggested}/confirm", page="/lists"))
    assert {e.id: e.confirmed for e in store.list_entries()}[suggested] is True
    follow(client, post(client, f"/lists/{suggested}/remove", page="/lists"))
    assert [e.value for e in store.list_entries()] == ["+4930999*"]
    html = follow(client, post(client, "/lists", {"list": "block", "value": "+49 abc", "reason": "x"}, "/lists"))
    assert "not a phone number" in html
    html = follow(client, post(client, "/lists/99999/remove", page="/lists"))
    assert "no list entry with id 99999" in html


# --------------------------------------------------------------------------
# Prompts


def test_prompts_page_lists_prompts_and_the_script(client):
    html = client.get("/prompts").text
    for prompt_id in ("withheld", "hello", "greeting", "goodbye"):
        assert f'id="prompt-{prompt_id}"' in html
    assert "TTS espeak-ng" in html
    assert "Guten Tag, Sie sprechen mit dem Telefonassistenten." in html
    assert "✓" in html and "script.toml" in html and "steps, starts at greeting" in html
    assert '/prompts/de/hello/audio.wav?v=' in html
    assert 'href="/prompts?lang=en"' in html
    en = client.get("/prompts?lang=en")
    assert en.status_code == 200 and 'id="prompt-hello"' in en.text
    assert client.get("/prompts?lang=xx").status_code == 404


def test_broken_script_shows_its_problems(client, site):
    script = site.prompts / "de" / "script.toml"
    script.write_text(script.read_text(encoding="utf-8").replace('start = "greeting"', 'start = "greting"'),
                      encoding="utf-8")
    html = client.get("/prompts").text
    assert "✗" in html and "has problems" in html
    assert "greting" in html


def test_prompt_audio_is_what_callers_hear(client):
    response = client.get("/prompts/de/hello/audio.wav")
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    import io

    with wave.open(io.BytesIO(response.content)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() > 8000
    part = client.get("/prompts/de/hello/audio.wav", headers={"Range": "bytes=0-43"})
    assert part.status_code == 206 and part.content == response.content[:44]
    assert client.get("/prompts/de/nope/audio.wav").status_code == 404
    assert client.get("/prompts/de/..%2Fx/audio.wav").status_code == 404


def test_edit_prompt_text_keeps_the_rest_of_the_file(client, site):
    path = site.prompts / "de" / "prompts.toml"
    before = path.read_text(encoding="utf-8").splitlines()
    text = 'Auf "Wiederhören" \\ bis bald.'
    response = post(client, "/prompts/de/goodbye/text", {"text": text + "\n  "}, "/prompts")
    assert response.headers["location"] == "/prompts?lang=de#prompt-goodbye"
    after = path.read_text(encoding="utf-8").splitlines()
    assert tomllib.loads("\n".join(after))["goodbye"] == text
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(before) == len(after) and len(changed) == 1
    assert after[changed[0]].startswith("goodbye = ")
    assert after[0].startswith("# ")  # the comments are still there
    html = client.get("/prompts").text
    assert "Auf &#34;Wiederhören&#34; \\ bis bald." in html
    assert "goodbye: text saved" in html or "goodbye: text saved, but" in html


def test_edit_prompt_text_refuses_empty_and_unknown(client, site):
    path = site.prompts / "de" / "prompts.toml"
    before = path.read_bytes()
    html = follow(client, post(client, "/prompts/de/goodbye/text", {"text": "   "}, "/prompts"))
    assert "the text is empty" in html
    assert path.read_bytes() == before
    assert post(client, "/prompts/de/no_such_prompt/text", {"text": "x"}, "/prompts").status_code == 404


def wav_bytes(tmp: Path, name: str, fmt: str) -> Path:
    rate = 16000
    t = np.arange(rate) / rate
    samples = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    path = tmp / name
    soundfile.write(str(path), samples, rate, format=fmt)
    return path


def test_upload_recordings_replace_older_ones(client, site, tmp_path):
    lang_dir = site.prompts / "de"
    wav = wav_bytes(tmp_path, "my goodbye.wav", "WAV")
    token = token_of(client, "/prompts")
    with wav.open("rb") as f:
        response = client.post("/prompts/de/goodbye/recording", data={"csrf_token": token},
                               files={"file": ("my goodbye.wav", f, "audio/wav")})
    html = follow(client, response)
    assert "goodbye: saved as goodbye.wav" in html
    assert (lang_dir / "goodbye.wav").read_bytes() == wav.read_bytes()
    assert "recording goodbye.wav" in html

    flac = wav_bytes(tmp_path, "neu.FLAC", "FLAC")
    token = token_of(client, "/prompts")
    with flac.open("rb") as f:
        response = client.post("/prompts/de/goodbye/recording", data={"csrf_token": token},
                               files={"file": ("neu.FLAC", f, "audio/flac")})
    html = follow(client, response)
    assert "saved as goodbye.flac" in html and "recording goodbye.flac" in html
    assert not (lang_dir / "goodbye.wav").exists()
    assert [p.suffix for p in (lang_dir / ".replaced").iterdir()] == [".wav"]


def test_upload_refuses_what_is_not_audio(client, site, tmp_path):
    lang_dir = site.prompts / "de"
    for name, content, message in (("notes.txt", b"hello", "not a supported recording"),
                                   ("broken.wav", b"RIFF....WAVEjunk", "not a readable audio file"),
                                   ("empty.wav", b"", "the file is empty")):
        token = token_of(client, "/prompts")
        response = client.post("/prompts/de/hello/recording", data={"csrf_token": token},
                               files={"file": (name, content, "application/octet-stream")})
        html = follow(client, response)
        assert message in html, name
    assert not any(p.suffix in (".wav", ".txt") for p in lang_dir.iterdir())
    assert not [p for p in lang_dir.iterdir() if p.name.startswith(".upload")]


def test_re_render_shows_the_report(client, site):
    (site.prompts / "de" / "hello.wav").write_bytes(b"RIFF-not-really")
    response = post(client, "/prompts/render", {"lang": "de"}, "/prompts")
    assert response.status_code == 200
    assert "Rendered just now" in response.text
    assert "1 problem:" in response.text and "hello.wav" in response.text
    (site.prompts / "de" / "hello.wav").unlink()
    response = post(client, "/prompts/render", {"lang": "de"}, "/prompts")
    assert "prompts ready" in response.text


# --------------------------------------------------------------------------
# prompts.toml editing (unit)


def test_toml_string_round_trips():
    for text in ('plain', 'with "quotes"', "back\\slash", "tab\there", "ctrl\x01", "ümlaut ß €", "new\nline"):
        assert tomllib.loads(f"k = {toml_string(text)}")["k"] == text


def test_set_text_keeps_comments_and_other_entries():
    source = (
        "# header\n"
        'hello = "Hallo"   # a comment after the value\n'
        '"goodbye" = \'Tschüss # not a comment\'\n'
        'long = """\nzwei\nZeilen"""\n'
        "# hello = \"in a comment\"\n"
    )
    out = set_text_in_source(source, "hello", 'Neu "x"')
    assert out == source.replace('"Hallo"', '"Neu \\"x\\""')
    out = set_text_in_source(source, "goodbye", "Bye")
    assert out.splitlines()[2] == '"goodbye" = "Bye"'
    out = set_text_in_source(source, "long", "eine Zeile")
    assert tomllib.loads(out)["long"] == "eine Zeile"
    assert out.endswith('long = "eine Zeile"\n# hello = "in a comment"\n')
    out = set_text_in_source(source, "brand_new", "Neu")
    assert out == source + 'brand_new = "Neu"\n'
    with pytest.raises(PromptEditError):
        set_text_in_source("broken = ", "x", "y")
    with pytest.raises(PromptEditError):
        set_text_in_source(source, "../evil", "y")


# --------------------------------------------------------------------------
# The command


def test_web_command_refuses_to_start_without_a_password_hash(tmp_path, monkeypatch):
    monkeypatch.delenv("CALLBOT_WEB_PASSWORD_HASH", raising=False)
    (tmp_path / "prompts" / "de").mkdir(parents=True)
    config = tmp_path / "config.toml"
    config.write_text("[web]\n")
    from callbot.cli.main import main

    result = CliRunner().invoke(main, ["web", "--config", str(config)])
    assert result.exit_code == 2
    assert "web.password_hash: no password is set" in result.output
    assert "callbot web hash-password" in result.output and "CALLBOT_WEB_PASSWORD_HASH" in result.output


def test_web_command_binds_loopback_and_wildcard_only_when_explicit(site, monkeypatch):
    import uvicorn

    from callbot.cli.main import main

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    result = CliRunner().invoke(main, ["web", "--config", str(site.config_path)])
    assert result.exit_code == 0, result.output
    assert (calls[-1]["host"], calls[-1]["port"]) == ("127.0.0.1", 8080)
    assert "warning" not in result.output

    result = CliRunner().invoke(main, ["web", "--config", str(site.config_path), "--host", "0.0.0.0",
                                       "--port", "8099"])
    assert result.exit_code == 0, result.output
    assert (calls[-1]["host"], calls[-1]["port"]) == ("0.0.0.0", 8099)
    assert "warning" in result.output and "every network" in result.output

    text = site.config_path.read_text().replace("[web]\n", '[web]\nhost = "0.0.0.0"\n')
    site.config_path.write_text(text)
    result = CliRunner().invoke(main, ["web", "--config", str(site.config_path)])
    assert result.exit_code == 2
    assert "--host 0.0.0.0" in result.output
    assert len(calls) == 2


def test_web_command_warns_about_a_generated_session_secret(site, monkeypatch):
    import uvicorn

    from callbot.cli.main import main

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    site.config_path.write_text(re.sub(r"session_secret = .*\n", "", site.config_path.read_text()))
    result = CliRunner().invoke(main, ["web", "--config", str(site.config_path)])
    assert result.exit_code == 0, result.output
    assert "[web] session_secret" in result.output and "logins end when callbot web restarts" in result.output


def test_hash_password_command(monkeypatch):
    from callbot.cli.main import main

    result = CliRunner().invoke(main, ["web", "hash-password"], input="geheim123\ngeheim123\n")
    assert result.exit_code == 0, result.output
    line = [l for l in result.stdout.splitlines() if l.startswith("scrypt$")]
    assert len(line) == 1 and verify_password("geheim123", line[0])
    assert "geheim123" not in result.stdout
    short = CliRunner().invoke(main, ["web", "hash-password"], input="abc\nabc\n")
    assert short.exit_code == 2 and "at least 8 characters" in short.output


def test_the_header_shows_whether_the_bot_is_registered(site, client):
    """#16.1: the owner sees the registration state on every page (from the bot's status.json)."""
    import os
    import time

    from callbot.botstatus import BotStatus, status_path, write_status

    assert "botstate" not in client.get("/calls").text  # the bot never ran here: nothing to say
    path = status_path(site.config.storage.database)
    now = time.time()
    write_status(path, BotStatus(pid=os.getpid(), started=now, registrar="192.168.178.1:5060", registered=False,
                                 since=now - 30, last_error="<b>no answer</b>", next_try=now + 4))
    page = client.get("/calls").text
    assert 'class="botstate bad"' in page and "NOT registered at 192.168.178.1:5060" in page
    assert "&lt;b&gt;no answer&lt;/b&gt;" in page  # a registrar's words are escaped
    write_status(path, BotStatus(pid=os.getpid(), started=now, registrar="192.168.178.1:5060", registered=True,
                                 since=now, granted_expires=300))
    assert 'class="botstate ok"' in client.get("/calls").text


def test_a_block_while_another_program_locks_the_call_log_gets_503_not_500(client, site, monkeypatch):
    """The write is queued behind a real exclusive lock; the page says the log is busy."""
    import sqlite3

    import callbot.web.data as data

    monkeypatch.setattr(data, "WRITE_TIMEOUT", 0.5)
    holder = sqlite3.connect(site.config.storage.database, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        response = post(client, f"/numbers/{COLD}/block", {"reason": "Werbung"})
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 503
    assert "The call log is busy" in response.text


def test_the_call_page_and_the_inbox_show_what_became_of_each_notification(site, client):
    """#13.2: the proof of delivery on the call's page; a failed one also on the inbox page."""
    from callbot.store.store import Store
    from tests.test_store import caller

    store = Store(site.config.storage.database)
    try:
        call_id = store.start_call(caller("+4930111222", "030111222"), "notify-1").call_id
        note = {"rule": 1, "language": "en", "attach": False, "not_before": None}
        store.finish_call(call_id, "message_taken", [
            {**note, "channel": "mail", "target": "buero@example.de", "message_id": "<a@x>"},
            {**note, "channel": "webhook", "target": "https://hooks.example/x", "message_id": "<b@x>"},
        ]).result(5)
        mail, hook = store.notifications(call_id)
        attempt = store.outbox_begin(mail.id).result(5)
        store.outbox_end(mail.id, attempt, "delivered", "250 2.0.0 Ok: queued as 4XyZ").result(5)
        attempt = store.outbox_begin(hook.id).result(5)
        store.outbox_end(hook.id, attempt, "failed", "404 Not Found").result(5)
    finally:
        store.close()
    page = client.get(f"/calls/{call_id}").text
    assert 'id="deliveries"' in page
    assert "Mail to buero@example.de delivered" in page and "250 2.0.0 Ok: queued as 4XyZ" in page
    assert "Webhook to https://hooks.example/x failed" in page and "404 Not Found" in page
    inbox = client.get("/inbox").text
    assert 'id="failed-notifications"' in inbox and f'href="/calls/{call_id}"' in inbox
    assert "https://hooks.example/x" in inbox and "buero@example.de delivered" not in inbox
