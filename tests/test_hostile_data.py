"""Hostile caller data, everywhere it is shown (issue #11, requirement 6).

Callers whose shown names are rich markup, HTML, escape sequences, an RTL override, a
spreadsheet formula or several kB long call a running bot on loopback (real SIP: the bot's
demo caller with a custom From header), and say hostile things (the recognizer's words).
Then every output path shows them: `callbot calls` (+ --json, --csv), `calls show`
(+ --json), `leads` (+ --json), `block --name` / `lists`, the web call list and call page, and `export`.

SIP header lines cannot carry a line break, and the bot's SIP stack reads at most 8192
bytes of a datagram, so the newline and the 10 kB name reach the call log through the
store's bulk import instead (what a restored or imported call log may hold).
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from callbot.cli.main import main
from callbot.config.load import load_config
from callbot.passwords import hash_password
from callbot.store.store import Store
from callbot.telephony.democaller import DemoCaller
from tests.conftest import loopback_config, tone
from tests.fakes import CannedRecognizer

ESC = "\x1b"
RLO = "\u202e"
#: Shown names sent in the From header of real calls: (name as stored, From header).
NAMES = {
    "close": "[/]",
    "markup": "[link=http://evil.example]click me[/link] [bold red]ALARM",
    "html": "<script>alert('x')</script>",
    "escape": f"{ESC}[31mred{ESC}]8;;http://evil.example{ESC}\\link {RLO}gpj.exe",
    "formula": "=HYPERLINK(1)",
    "long": "Langer Name " + "L" * 5000,
}
NUMBERS = {key: f"+49301110{i:02d}" for i, key in enumerate(NAMES)}
SAID = ("hier ist [bold]Mallory[/] von =cmd GmbH\nzweite Zeile " + ESC + "[2J" + RLO + "x",
        "es geht um [/] <b>strom</b>")
BULK_NAME = "Zeile eins\nZeile zwei [/]\r" + ESC + "[5m"
HUGE_NAME = "H" * 10_000
PASSWORD = "correct horse battery"


def from_header(name: str, number: str) -> str:
    quoted = "".join("\\" + c if c in '"\\' or ord(c) < 0x20 else c for c in name)
    return f'"{quoted}" <sip:{number}@fritz.box>'


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A call log filled by real calls with hostile names, and a config file for CLI and web."""
    from callbot.app import Bot
    from tests.conftest import SHORT_PROMPTS
    from callbot.audio import write_wav

    tmp = tmp_path_factory.mktemp("hostile")
    prompts = tmp / "prompts"
    repo = Path(__file__).resolve().parent.parent
    for lang in ("de", "en"):
        (prompts / lang).mkdir(parents=True)
        for prompt_id, (seconds, freq) in SHORT_PROMPTS.items():
            write_wav(prompts / lang / f"{prompt_id}.wav", tone(seconds, freq))
        (prompts / lang / "script.toml").write_text((repo / "prompts" / lang / "script.toml").read_text())
    config = loopback_config(tmp, prompts, unknown="screen")
    bot = Bot(config, recognizer=CannedRecognizer(*(SAID * 2 * len(NAMES))))
    bot.start()
    try:
        speech = tone(1.2, 300, dbfs=-12)

        def call(key: str) -> None:
            DemoCaller("127.0.0.1", config.sip.local_port).call(from_header(NAMES[key], NUMBERS[key]),
                                                                answers=(speech,) * 4, timeout=40)

        threads = [threading.Thread(target=call, args=(key,)) for key in NAMES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            bot.store.flush()
            rows = bot.store.calls(limit=50)
            if len(rows) == len(NAMES) and all(r.outcome for r in rows):
                break
            time.sleep(0.1)
    finally:
        bot.stop()
    now = datetime.now(timezone.utc)
    with Store(config.storage.database) as store:
        store.bulk_insert_calls([
            {"started_at": now - timedelta(minutes=m), "ended_at": now, "duration": 1.0, "outcome": "caller_hung_up",
             "caller_raw": f"<sip:{number}@x>", "caller_display": name, "caller_number": number,
             "caller_dialled": number, "caller_valid": True, "withheld": False, "company": "-1+1"}
            for m, name, number in ((5, BULK_NAME, "+4930222001"), (6, HUGE_NAME, "+4930222002"))
        ]).result(10)
        rows = {r.caller_number: r for r in store.calls(limit=50)}
    path = tmp / "config.toml"
    path.write_text(
        f'[storage]\ndatabase = "{config.storage.database}"\nrecordings = "{config.storage.recordings}"\n'
        f'[prompts]\ndir = "{prompts}"\nlanguage = "de"\n[tts]\ncache = "{tmp}/cache"\n'
        f'[web]\npassword_hash = "{hash_password(PASSWORD, n=2**10)}"\n'
        'session_secret = "test-secret-0123456789-abcdefghijklmnop"\nper_page = 50\n', encoding="utf-8")
    return path, rows


def run(config: Path, *args: str, columns: int = 120):
    result = CliRunner(env={"COLUMNS": str(columns)}).invoke(main, [*args, "--config", str(config)])
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def no_raw_controls(text: str) -> None:
    assert ESC not in text and RLO not in text and "\r" not in text, repr(text[:2000])


def test_the_real_calls_stored_the_hostile_names(site):
    _, rows = site
    for key, name in NAMES.items():
        assert rows[NUMBERS[key]].caller_display == name, key
    assert any(r.transcript and "[bold]Mallory[/]" in r.transcript for r in rows.values())


@pytest.mark.parametrize("columns", [80, 200])
def test_calls_table_shows_every_name_literally_and_cut(site, columns):
    config, rows = site
    output = run(config, "calls", columns=columns)
    no_raw_controls(output)
    literals = ["([/])", "([link=http:", "(<script>ale", "(=HYPERLINK(", "(\\x1b[31mred", "\\u202egpj"]
    if columns >= 200:
        literals += ["[link=http://evil.example]click me[/link] [bold red]ALARM", "<script>alert('x')</script>",
                     "\\x1b[31mred\\x1b]8;;http://evil.example\\x1b\\link \\u202egpj.exe",
                     "(Zeile eins\\nZeile zwei [/]\\r\\x1b[5m)"]
    for literal in literals:
        assert literal in output, (literal, output)
    assert all(len(line) <= columns for line in output.splitlines())
    assert len(output) < 8000 and "…" in output  # the 10 kB and 5 kB names are cut in the table
    assert len(output.splitlines()) < 60


def test_calls_show_gives_each_whole_value_escaped(site):
    config, rows = site
    said = 0
    for number, row in rows.items():
        output = run(config, "calls", "show", str(row.id), columns=400)
        no_raw_controls(output)
        flat = re.sub(r"\s+", "", output)
        expected = (row.caller_display.replace(ESC, "\\x1b").replace(RLO, "\\u202e").replace("\n", "\\n")
                    .replace("\r", "\\r"))
        assert re.sub(r"\s+", "", expected) in flat, (number, output[:3000])
        if "Mallory" in (row.transcript or ""):
            said += 1
            assert "hier ist [bold]Mallory[/] von =cmd GmbH\\nzweite Zeile \\x1b[2J\\u202ex" in output, output
        said += 100 * ("es geht um [/] <b>strom</b>" in output)
    assert said % 100 and said >= 100  # both hostile answers were shown literally


def test_json_lines_keep_the_values_and_no_raw_controls(site):
    config, rows = site
    output = run(config, "calls", "--json")
    no_raw_controls(output)
    by_number = {d["caller_number"]: d for d in map(json.loads, output.splitlines())}
    assert {n: d["caller_display"] for n, d in by_number.items()} == {n: r.caller_display for n, r in rows.items()}
    one = run(config, "calls", "show", str(rows[NUMBERS["escape"]].id), "--json")
    no_raw_controls(one)
    assert json.loads(one)["caller_display"] == NAMES["escape"]


def test_csv_cells_never_start_a_formula(site):
    config, rows = site
    output = run(config, "calls", "--csv")
    no_raw_controls(output)
    table = list(csv.DictReader(io.StringIO(output)))
    assert len(table) == len(rows)
    for line in table:
        for value in line.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    by_number = {line["caller_number"]: line for line in table}
    assert by_number["'" + NUMBERS["formula"]]["caller_display"] == "'=HYPERLINK(1)"
    assert by_number["'+4930222001"]["company"] == "'-1+1"
    assert by_number["'+4930222001"]["caller_display"] == "Zeile eins\\nZeile zwei [/]\\r\\x1b[5m"
    assert len(by_number["'+4930222002"]["caller_display"]) == 10_000  # whole in an export


def test_lists_show_a_hostile_name_pattern_literally(site):
    config, _ = site
    pattern = "[/]*[bold red]<script>"
    output = run(config, "block", "--name", pattern, "--reason", "[link=http://x]r[/link] " + ESC + "[31m" + RLO)
    no_raw_controls(output)
    assert pattern.lower() in output.lower() and "[link=http://x]r[/link] \\x1b[31m\\u202e" in output, output
    listing = run(config, "lists", columns=300)
    no_raw_controls(listing)
    assert pattern.lower() in listing.lower() and "[link=http://x]r[/link] \\x1b[31m\\u202e" in listing, listing
    as_json = run(config, "lists", "--json")
    no_raw_controls(as_json)
    assert any(json.loads(line)["reason"].endswith(ESC + "[31m" + RLO) for line in as_json.splitlines())


def test_web_pages_escape_every_name(site):
    from callbot.web.app import create_app

    config_path, rows = site
    config = load_config(config_path, env={})
    with TestClient(create_app(config), base_url="http://testserver", follow_redirects=False) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        assert client.post("/login", data={"password": PASSWORD, "csrf_token": token, "next": "/calls"}) \
            .status_code == 303
        pages = [client.get("/calls").text] + [client.get(f"/calls/{r.id}").text for r in rows.values()]
    for html in pages:
        assert "<script>alert" not in html and "<b>strom</b>" not in html
    listing = pages[0]
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in listing
    assert "[link=http://evil.example]click me[/link]" in listing  # text, not a link
    assert 'href="http://evil.example' not in "".join(pages)


def test_export_keeps_hostile_values_exactly(site, tmp_path):
    config, rows = site
    for key in ("escape", "html", "formula"):
        out = tmp_path / key
        output = run(config, "export", NUMBERS[key], str(out))
        no_raw_controls(output)
        text = (out / "calls.json").read_text(encoding="utf-8")
        assert ESC not in text  # JSON escapes it
        [call] = json.loads(text)["calls"]
        assert call["caller_display"] == NAMES[key]


def test_leads_show_what_was_said_literally(site):
    config, _ = site
    output = run(config, "leads", columns=400)
    no_raw_controls(output)
    assert "hier ist [bold]Mallory[/] von =cmd GmbH\\nzweite Zeile \\x1b[2J\\u202ex" in output \
        or "es geht um [/] <b>strom</b>" in output, output
    lines = run(config, "leads", "--json").splitlines()
    assert lines and all(json.loads(line)["call_id"] for line in lines)
