"""Hardening of the review web page (issue #11, requirement 7): the login lockout keyed on the
address the proxy setup really establishes (``[web] trusted_proxies``) plus per account,
logging out ending the session server-side, no 500 for any query, bounded prompt uploads."""

from __future__ import annotations

import asyncio
import http.client
import re
import socket
import struct
import threading
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from starlette.routing import Route
from starlette.testclient import TestClient

from callbot.config.load import load_config
from callbot.errors import ConfigError
from callbot.web.auth import LoginLimiter
from callbot.web.proxies import TrustedProxies, client_address, limit_key
from tests.test_web import (COLD, PASSWORD, TOKEN, Clock, Site, clock, login, make_client, post,  # noqa: F401
                            site, token_of)

LOOPBACK = ("127.0.0.1", 40000)


def web_client(site: Site, clock: Clock, *, proxies: tuple[str, ...] = (), peer=LOOPBACK) -> TestClient:
    from callbot.web.app import create_app

    config = replace(site.config, web=replace(site.config.web, trusted_proxies=proxies))
    return TestClient(create_app(config, limiter=LoginLimiter(clock=clock)), follow_redirects=False,
                      client=peer)


def login_from(client: TestClient, forwarded: str | None, password: str = "wrong") -> int:
    token = token_of(client, "/login")
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post("/login", data={"password": password, "csrf_token": token, "next": "/calls"},
                       headers=headers).status_code


# --------------------------------------------------------------------------
# The client address


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy():
    none = TrustedProxies()
    assert client_address("127.0.0.1", ["1.2.3.4"], none) == "127.0.0.1"
    proxy = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    assert client_address("192.168.1.5", ["1.2.3.4"], proxy) == "192.168.1.5"  # not a proxy: header ignored
    # from a trusted proxy: the right-most entry that is not a trusted proxy
    assert client_address("127.0.0.1", ["6.6.6.6, 203.0.113.7"], proxy) == "203.0.113.7"
    assert client_address("127.0.0.1", ["6.6.6.6, 203.0.113.7, 10.1.2.3"], proxy) == "203.0.113.7"
    assert client_address("127.0.0.1", ["6.6.6.6", "203.0.113.7"], proxy) == "203.0.113.7"  # two headers
    assert client_address("127.0.0.1", [], proxy) == "127.0.0.1"
    assert client_address("127.0.0.1", ["garbage"], proxy) == "127.0.0.1"  # unreadable: the last trusted hop
    assert client_address("127.0.0.1", ["garbage, 10.0.0.9"], proxy) == "10.0.0.9"
    assert client_address("::ffff:127.0.0.1", ["[2001:db8::1]:443"], proxy) == "2001:db8::1"
    assert client_address("testclient", ["1.2.3.4"], proxy) == "testclient"
    # an IPv6 client is counted by its /64
    assert limit_key("2001:db8:1:2:aaaa::1") == limit_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert limit_key("192.0.2.1") == "192.0.2.1"


def test_rotating_forwarded_for_from_loopback_does_not_dodge_the_lockout(site, clock):
    with web_client(site, clock) as client:  # no trusted proxies (the default)
        for i in range(4):
            assert login_from(client, f"198.51.100.{i}") == 401
        assert login_from(client, "198.51.100.99") == 429
        assert login_from(client, "198.51.100.100", PASSWORD) == 429  # even the right password


def test_behind_a_trusted_proxy_each_office_client_has_its_own_lockout(site, clock):
    with web_client(site, clock, proxies=("127.0.0.1",)) as client:
        for _ in range(4):
            assert login_from(client, "192.168.1.10") == 401
        assert login_from(client, "192.168.1.10") == 429
        # a spoofed left part does not help the locked-out client ...
        assert login_from(client, "203.0.113.1, 192.168.1.10") == 429
        # ... and a colleague behind the same proxy can still log in
        assert login_from(client, "192.168.1.11", PASSWORD) == 303


def test_the_account_is_locked_after_many_failures_from_many_addresses(site, clock):
    with web_client(site, clock, proxies=("127.0.0.1",)) as client:
        for i in range(20):  # a distributed guesser: never more than one try per address
            assert login_from(client, f"203.0.113.{i}") == (429 if i == 19 else 401), i
        assert login_from(client, "203.0.113.200", PASSWORD) == 429
        clock.now += 301
        assert login_from(client, "203.0.113.200", PASSWORD) == 303


def test_limiter_per_account_unit(clock):
    limiter = LoginLimiter(clock=clock, account_failures=3, account_lockout=60)
    assert limiter.attempt("a", "owner") == 0
    assert limiter.attempt("b", "owner") == 0
    assert limiter.attempt("c", "owner") == 0  # the third starts the account's lockout
    assert limiter.attempt("d", "owner") == 60
    assert limiter.attempt("d") == 0  # the address itself is not locked
    clock.now += 61
    assert limiter.attempt("d", "owner") == 0
    limiter.succeeded("d", "owner")
    assert limiter.retry_after("d", "owner") == 0


def test_trusted_proxies_setting(tmp_path):
    (tmp_path / "prompts" / "de").mkdir(parents=True)

    def load(value: str):
        path = tmp_path / "config.toml"
        path.write_text(f"[web]\ntrusted_proxies = {value}\n", encoding="utf-8")
        return load_config(path, env={})

    assert load('["127.0.0.1", "10.0.0.0/8", "::1", "10.1.2.3/8"]').web.trusted_proxies == (
        "127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert load("[]").web.trusted_proxies == ()
    for value, words in (('"127.0.0.1"', "expected a list"), ('["proxy.local"]', "is not an IP address"),
                         ("[1]", "is not an IP address"), ('["0.0.0.0/0"]', "would trust every address"),
                         ('["::/0"]', "would trust every address")):
        with pytest.raises(ConfigError) as info:
            load(value)
        text = str(info.value)
        assert "web.trusted_proxies:" in text and words in text and '["127.0.0.1"]' in text, text


# --------------------------------------------------------------------------
# Over real HTTP: uvicorn as `callbot web` starts it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(site, monkeypatch):
    """The app and uvicorn options exactly as `callbot web` passes them, served on loopback."""
    import uvicorn

    from callbot.cli.main import main

    captured = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: captured.append((app, kw)))
    port = _free_port()
    result = CliRunner().invoke(main, ["web", "--config", str(site.config_path), "--port", str(port)])
    assert result.exit_code == 0, result.output
    app, options = captured[-1]
    assert options["proxy_headers"] is False
    server = uvicorn.Server(uvicorn.Config(app, **{**options, "log_level": "warning"}))
    thread = threading.Thread(target=server.run, name="hardening-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


class Browser:
    """A tiny HTTP client over http.client that keeps the session cookie."""

    def __init__(self, port: int):
        self.port = port
        self.cookie: str | None = None

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            head = dict(headers or {})
            body = None
            if form is not None:
                body = urlencode(form)
                head["Content-Type"] = "application/x-www-form-urlencoded"
            if self.cookie:
                head["Cookie"] = self.cookie
            conn.request(method, path, body=body, headers=head)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for value in response.headers.get_all("set-cookie") or []:
                self.cookie = value.split(";", 1)[0]
            return response.status, response.headers, text
        finally:
            conn.close()

    def token(self, path: str = "/login") -> str:
        status, _, text = self.request("GET", path)
        assert status == 200, (path, status)
        return TOKEN.search(text).group(1)

    def login(self, password: str = PASSWORD, forwarded: str | None = None) -> int:
        token = self.token()
        headers = {"X-Forwarded-For": forwarded} if forwarded else None
        return self.request("POST", "/login", {"password": password, "csrf_token": token, "next": "/calls"},
                            headers)[0]


def test_uvicorn_does_not_take_the_client_from_forwarded_for(served):
    browser = Browser(served)
    for i in range(4):
        assert browser.login("wrong", forwarded=f"198.51.100.{i}") == 401
    assert browser.login("wrong", forwarded="198.51.100.50") == 429
    assert Browser(served).login(PASSWORD, forwarded="198.51.100.51") == 429


def test_a_cookie_copied_before_logout_is_refused_afterwards(served):
    browser = Browser(served)
    assert browser.login() == 303
    copied = browser.cookie
    assert browser.request("GET", "/calls")[0] == 200
    token = browser.token("/calls")
    status, headers, _ = browser.request("POST", "/logout", {"csrf_token": token})
    assert status == 303 and headers["location"] == "/login"

    thief = Browser(served)
    thief.cookie = copied
    status, headers, _ = thief.request("GET", "/calls")
    assert status == 303 and headers["location"].startswith("/login")
    assert thief.request("GET", f"/numbers/{COLD}")[0] == 303
    # a new login works, and the session survives a restart of the app (same secret)
    assert browser.login() == 303
    assert browser.request("GET", "/calls")[0] == 200


def test_a_live_session_outlasts_a_restart_but_not_a_logout(site, clock):
    with make_client(site, clock) as first:
        login(first)
        cookies = dict(first.cookies)
    with make_client(site, clock) as second:  # a restart: same secret, same session file
        for name, value in cookies.items():
            second.cookies.set(name, value)
        assert second.get("/calls").status_code == 200
        assert post(second, "/logout").status_code == 303
    with make_client(site, clock) as third:
        for name, value in cookies.items():
            third.cookies.set(name, value)
        assert third.get("/calls").status_code == 303


# --------------------------------------------------------------------------
# No 500 for any query

HOSTILE = [
    "%F4%8F%BF%BF",  # U+10FFFF
    "%ED%A0%80",  # a lone surrogate, UTF-8-encoded
    "%FF%FE", "1e20", "-1", "0", "99999999999999999999999999999", "1" * 400, "a" * 10_000, "%00", "a%00b",
    "%0D%0A", "%E2%80%AE", "%22%3E%3Cscript%3E", "..%2F..%2Fetc%2Fpasswd", "NEAR(", "*", "%25", "",
    "9999-12-31", "0000-00-00", "+" + "9" * 60,
]
PARAMS = ["q", "outcome", "label", "number", "from", "to", "page", "lang", "next"]
PATH_VALUES = {"call_id": ["1", "0", "99999999999999999999999", "9223372036854775808"],
               "number": ["%F4%8F%BF%BF", "%ED%A0%80", "+" + "9" * 30, "%00", "a" * 5000],
               "path": ["%00", "a" * 5000 + ".wav", "../../etc/passwd", "%ED%A0%80.wav", "x/" * 300 + "a.wav"],
               "lang": ["de", "%00", "xx", "a" * 5000], "prompt_id": ["greeting", "%F4%8F%BF%BF", "a" * 5000]}


def _get_urls(app) -> list[str]:
    urls = []
    for route in app.routes:
        if isinstance(route, Route) and "GET" in (route.methods or ()):
            names = re.findall(r"{(\w+)(?::\w+)?}", route.path)
            paths = [route.path]
            for name in names:
                paths = [re.sub(r"{%s(?::\w+)?}" % name, value, p, count=1)
                         for p in paths for value in PATH_VALUES[name]]
            urls += paths
        elif getattr(route, "path", "") == "/static":
            urls += ["/static/%00", "/static/" + "a" * 5000, "/static/..%2F..%2Fapp.py", "/static/%ED%A0%80"]
    return urls


def test_every_get_route_answers_hostile_input_without_a_server_error(site, clock):
    from callbot.web.app import create_app

    app = create_app(site.config, limiter=LoginLimiter(clock=clock))
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        login(client)
        urls = _get_urls(app)
        assert {"/calls", "/leads", "/lists", "/prompts", "/login"} <= set(urls)
        failures = []
        special = ["page=1&page=2", "page[]=1&page[]=2", "q[]=x", "number[0]=1", "%00=1", "a" * 9000 + "=1"]
        for url in urls:
            queries = ["", *special, *("&".join(f"{p}={v}" for p in (PARAMS if len(v) < 1000 else PARAMS[:3]))
                                         for v in HOSTILE)]
            if url in ("/calls", "/prompts", "/login"):  # the routes that read parameters: one at a time too
                queries += [f"{p}={v}" for p in PARAMS for v in HOSTILE]
            for q in queries:
                response = client.get(url + ("?" + q if q else ""))
                if response.status_code >= 500:
                    failures.append((url[:60], q[:60], response.status_code))
        assert failures == []


@pytest.mark.parametrize("query", ["page=1e20", "page=-1", "page=0", "page=99999999999999999999", "page=x",
                                   "number=%F4%8F%BF%BF", "number=%ED%A0%80", "q=%00", "q=" + "a" * 10_000,
                                   "outcome=answered&outcome=answered", "number=%D9%A3%D9%A4"])
def test_nonsense_in_the_call_list_query_is_a_400(site, clock, query):
    with make_client(site, clock) as client:
        login(client)
        response = client.get("/calls?" + query)
        assert response.status_code == 400, response.text[:300]
        assert "Traceback" not in response.text


def test_sensible_queries_still_work(site, clock):
    with make_client(site, clock) as client:
        login(client)
        assert client.get("/calls?page=2&q=&number=%2B49").status_code == 200
        assert client.get("/calls/99999999999999999999999").status_code == 404
        assert client.get("/login?next=%2Fcalls%3Fpage%3D2").status_code == 303


def test_caller_data_is_escaped_on_the_call_page(site, clock):
    with make_client(site, clock) as client:
        login(client)
        page = client.get(f"/calls/{site.ids['cold']}")
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(" in page.text


# --------------------------------------------------------------------------
# Bounded prompt uploads


def wav_header(rate: int, frames: int, *, claimed: int | None = None, channels: int = 1) -> bytes:
    """A PCM-16 WAV file of ``frames`` silent frames whose header says ``rate`` (and, with
    ``claimed``, a data chunk of that many bytes)."""
    data = bytes(frames * channels * 2)
    size = len(data) if claimed is None else claimed
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", min(0xFFFFFFFF, len(body))) + body


def upload(client: TestClient, content: bytes, name: str = "prompt.wav"):
    token = token_of(client, "/prompts")
    return client.post("/prompts/de/goodbye/recording", data={"csrf_token": token},
                       files={"file": (name, content, "audio/wav")})


BAD_UPLOADS = {
    "1 Hz": (lambda: wav_header(1, 20_000), "the sample rate is 1 Hz"),
    "100 Hz": (lambda: wav_header(100, 60_000), "the sample rate is 100 Hz"),
    "500 kHz": (lambda: wav_header(500_000, 1000), "the sample rate is 500,000 Hz"),
    "huge data claim": (lambda: wav_header(8000, 8000, claimed=0xFFFFFFF0),
                        "the WAV header says it holds 4,294,967,280 bytes"),
    "10 minutes": (lambda: wav_header(8000, 8000 * 600),
                   "the recording is 10 minutes long; a prompt may be at most 120 s"),
    "cut off": (lambda: wav_header(192_000, 192_000 * 10, channels=2)[:1000], "the file is damaged"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_uploads_outside_the_bounds_are_refused_before_decoding(site, clock, monkeypatch, case):
    import callbot.web.promptfiles as promptfiles

    make, words = BAD_UPLOADS[case]
    content, status = make(), 400

    decoded = []
    monkeypatch.setattr(promptfiles, "decode_file", lambda path: decoded.append(path) or b"")
    lang_dir = site.prompts / "de"
    before = sorted(p.name for p in lang_dir.iterdir())
    with make_client(site, clock) as client:
        login(client)
        response = upload(client, content)
    assert response.status_code == status, response.text[:500]
    assert words in response.text
    assert "goodbye:" in response.text  # on the prompts page, with the prompt's name
    assert decoded == []
    assert sorted(p.name for p in lang_dir.iterdir()) == before


def test_an_upload_over_the_size_cap_is_413(site, clock):
    from callbot.web.middleware import MAX_BODY

    with make_client(site, clock) as client:
        login(client)
        response = upload(client, wav_header(8000, (MAX_BODY // 2) + 10))
    assert response.status_code == 413
    assert not (site.prompts / "de" / "goodbye.wav").exists()


def test_a_good_upload_is_decoded_in_a_worker_thread(site, clock, monkeypatch):
    import callbot.web.promptfiles as promptfiles

    real = promptfiles.decode_file
    seen = []

    def decode_off_the_loop(path):
        try:
            asyncio.get_running_loop()
            seen.append("on the event loop")
        except RuntimeError:
            seen.append("worker")
        return real(path)

    monkeypatch.setattr(promptfiles, "decode_file", decode_off_the_loop)
    with make_client(site, clock) as client:
        login(client)
        response = upload(client, wav_header(16000, 16000))
        assert response.status_code == 303
    assert seen == ["worker"]
    assert (site.prompts / "de" / "goodbye.wav").exists()


def test_upload_bounds_unit(tmp_path):
    from callbot.web.uploads import MAX_SECONDS, RecordingRefused, check_recording

    ok = tmp_path / "ok.wav"
    ok.write_bytes(wav_header(44_100, 44_100 * 2, channels=2))
    header = check_recording(ok, "ok.wav")
    assert (header.rate, header.channels, header.seconds) == (44_100, 2, 2.0)
    edge = tmp_path / "edge.wav"
    edge.write_bytes(wav_header(8000, int(8000 * MAX_SECONDS)))
    assert check_recording(edge, "edge.wav").seconds == MAX_SECONDS
    over = tmp_path / "over.wav"
    over.write_bytes(wav_header(8000, int(8000 * MAX_SECONDS) + 8000))
    with pytest.raises(RecordingRefused, match="121 s long"):
        check_recording(over, "over.wav")
    with pytest.raises(RecordingRefused, match="at most 120 s"):
        check_recording(over, "over.wav")
    assert Path(over).exists()
