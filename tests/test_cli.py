"""The command line: messages instead of tracebacks, JSON lines, run/stop (the demo: test_demo.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from callbot.cli.common import parse_since
from callbot.cli.main import main
from callbot.records import CallerFields
from callbot.store.store import Store
from tests.conftest import REPO, free_udp_port


def write_config(tmp_path: Path, prompts: Path, transcription: str = "off", **sip) -> Path:
    settings = {"register": False, "local_ip": "127.0.0.1", "local_port": free_udp_port(),
                "rtp_port_min": 42000, "rtp_port_max": 42099, **sip}
    lines = ["[sip]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    lines += ["[storage]", f'database = "{tmp_path}/calls.db"', f'recordings = "{tmp_path}/rec"',
              "[prompts]", f'dir = "{prompts}"', 'language = "de"',
              "[speech]", f'transcription = "{transcription}"', f'model = "{tmp_path}/no-model"']
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def seed(db: Path) -> list[int]:
    store = Store(db)
    store.start()
    anonymous = CallerFields(raw='"Anonymous" <sip:anonymous@anonymous.invalid>', display=None, number=None,
                             dialled=None, country=None, region=None, type=None, description=None, valid=False,
                             withheld=True, number_source=None)
    known = CallerFields(raw="<sip:03012345678@fritz.box>", display="Büro Müller", number="+493012345678",
                         dialled="03012345678", country=49, region="DE", type="fixed_line", description="Berlin",
                         valid=True, withheld=False, number_source="From")
    first = store.start_call(anonymous, "a@x").result(5)
    store.add_event(first, "decision", "withheld", "Privacy: id")
    store.finish_call(first, "withheld_rejected")
    second = store.start_call(known, "b@x").result(5)
    store.add_event(second, "decision", "default", "number shown")
    store.finish_call(second, "answered")
    store.close()
    return [first, second]


def test_check_accepts_the_bundled_example_config():
    result = CliRunner().invoke(main, ["check", "--config", str(REPO / "config.toml")])
    assert result.exit_code == 0, result.output
    assert "withheld" in result.output and "hello" in result.output


def test_bad_config_is_one_clear_message_per_problem_without_traceback(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text('[sip]\nprot = 5060\nport = "abc"\n[phone]\ndefault_region = "XX"\n')
    result = subprocess.run([sys.executable, "-m", "callbot", "check", "--config", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for key in ("sip.prot", "sip.port", "phone.default_region"):
        assert key in result.stderr
    assert "did you mean 'port'" in result.stderr


def test_missing_prompt_is_reported_by_check(tmp_path, short_prompts):
    (short_prompts / "de" / "withheld.wav").unlink()
    config = write_config(tmp_path, short_prompts)
    result = CliRunner().invoke(main, ["check", "--config", str(config)])
    assert result.exit_code == 2
    assert "withheld" in result.output


def test_secret_is_never_printed(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts, password="s3cr3t-pass", port="oops")
    result = CliRunner().invoke(main, ["check", "--config", str(config)])
    assert result.exit_code == 2
    assert "s3cr3t-pass" not in result.output


def test_calls_json_has_one_object_per_line_with_the_documented_keys(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    seed(tmp_path / "calls.db")
    result = CliRunner().invoke(main, ["calls", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert {"id", "started_at", "ended_at", "caller_number", "caller_raw", "withheld", "outcome",
                "reasons"} <= row.keys()
    newest, oldest = rows
    assert newest["caller_number"] == "+493012345678" and newest["outcome"] == "answered"
    assert oldest["caller_number"] is None and oldest["withheld"] is True
    assert oldest["reasons"] == ["withheld: Privacy: id"]


def test_calls_filters(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    seed(tmp_path / "calls.db")
    runner = CliRunner()

    def ids(*args):
        result = runner.invoke(main, ["calls", "--config", str(config), "--json", *args])
        assert result.exit_code == 0, result.output
        return [json.loads(line)["outcome"] for line in result.output.splitlines()]

    assert ids("--outcome", "withheld_rejected") == ["withheld_rejected"]
    assert ids("--number", "+4930") == ["answered"]
    assert ids("--since", "1h") == ["answered", "withheld_rejected"]
    assert ids("--since", "2999-01-01") == []
    bad = runner.invoke(main, ["calls", "--config", str(config), "--outcome", "nonsense"])
    assert bad.exit_code == 2 and "withheld_rejected" in bad.output


def test_calls_show_reads_like_the_call(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    first, _ = seed(tmp_path / "calls.db")
    result = CliRunner().invoke(main, ["calls", "--config", str(config), "show", str(first)])
    assert result.exit_code == 0, result.output
    assert "withheld_rejected" in result.output and "Privacy: id" in result.output
    missing = CliRunner().invoke(main, ["calls", "--config", str(config), "show", "999"])
    assert missing.exit_code == 1 and "no call with id 999" in missing.output


def test_calls_without_a_database_says_how_to_start(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    result = CliRunner().invoke(main, ["calls", "--config", str(config)])
    assert result.exit_code == 1 and "callbot run" in result.output


def test_parse_since():
    now = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
    assert parse_since("2h", now) == datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
    assert parse_since("7d", now).day == 15
    assert parse_since("2026-11-01T00:00:00+00:00", now) == datetime(2026, 11, 1, tzinfo=timezone.utc)


def test_run_stops_cleanly_on_sigterm(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    proc = subprocess.Popen([sys.executable, "-m", "callbot", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (tmp_path / "calls.db").exists():
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "callbot running" in err and "stopping" in err
    assert "Traceback" not in err


def test_run_refuses_to_start_without_a_required_speech_model(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts, transcription="required")
    result = subprocess.run([sys.executable, "-m", "callbot", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "no-model" in result.stderr and "callbot models install" in result.stderr
    assert "Traceback" not in result.stderr


# -- caller lists and data protection -------------------------------------------------


def _run(config, *args, input=None):
    return CliRunner(env={"COLUMNS": "250"}).invoke(main, [*args, "--config", str(config)], input=input)


def test_block_allow_lists_and_unblock(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    missing_reason = _run(config, "block", "030123*")
    assert missing_reason.exit_code == 2 and "--reason is required" in missing_reason.output
    bad = _run(config, "block", "+49 abc", "--reason", "x")
    assert bad.exit_code == 2 and "'+49 abc' is not a phone number" in bad.output
    past = _run(config, "block", "030123*", "--reason", "x", "--until", "2020-01-01")
    assert past.exit_code == 2 and "not in the future" in past.output

    blocked = _run(config, "block", "030 123*", "--reason", "Energie-Drückerkolonne", "--until", "2999-01-01",
                   "--by", "anna")
    assert blocked.exit_code == 0, blocked.output
    assert "blocked prefix +4930123* (entry 1)" in blocked.output and (tmp_path / "calls.db").exists()
    named = _run(config, "block", "--name", "*Energie*", "--reason", "shows this name", "--until", "30d")
    assert named.exit_code == 0 and 'name "*Energie*"' in named.output
    allowed = _run(config, "allow", "030 1234567", "--reason", "contact: Anna")
    assert allowed.exit_code == 0 and "allowed number +49301234567" in allowed.output

    listed = _run(config, "lists", "--json")
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(r["list"], r["kind"], r["value"], r["created_by"], r["status"]) for r in rows][0] == (
        "block", "prefix", "+4930123*", "anna", "active")
    assert [r["value"] for r in rows] == ["+4930123*", "*Energie*", "+49301234567"]
    assert rows[0]["expires_at"].startswith("2998-12-31") or rows[0]["expires_at"].startswith("2999-01-01")
    table = _run(config, "lists")
    assert table.exit_code == 0 and "Energie-Drückerkolonne" in table.output

    gone = _run(config, "unblock", "030123*")
    assert gone.exit_code == 0 and "no longer blocked" in gone.output
    again = _run(config, "unblock", "030123*")
    assert again.exit_code == 1 and "not on the block list" in again.output
    by_id = _run(config, "unblock", "3")  # any entry by id, allow entries too
    assert by_id.exit_code == 0 and "removed entry 3" in by_id.output
    assert _run(config, "unblock", "99").exit_code == 1
    rows = [json.loads(line) for line in _run(config, "lists", "--json").output.splitlines()]
    assert [r["value"] for r in rows] == ["*Energie*"]
    history = [json.loads(line) for line in _run(config, "lists", "--all", "--json").output.splitlines()]
    assert [r["status"].split()[0] for r in history] == ["removed", "active", "removed"]


def test_suggest_and_accept(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    store = Store(tmp_path / "calls.db")
    known = CallerFields(raw="<sip:03012345678@fritz.box>", display=None, number="+493012345678",
                         dialled="03012345678", country=49, region="DE", type="fixed_line", description="Berlin",
                         valid=True, withheld=False, number_source="From")
    with store:
        for _ in range(2):
            call_id = store.start_call(known, None).result(5)
            store.update_call(call_id, label="cold_call")
    result = _run(config, "suggest")
    assert result.exit_code == 0, result.output
    assert "1 new suggestion" in result.output and "callbot block --accept 1" in result.output
    rows = [json.loads(line) for line in _run(config, "lists", "--json").output.splitlines()]
    assert rows[0]["source"] == "suggested" and rows[0]["confirmed"] is False
    assert rows[0]["status"] == "suggested — run `callbot block --accept 1`"
    assert "0 new suggestion" in _run(config, "suggest").output
    accepted = _run(config, "block", "--accept", "1")
    assert accepted.exit_code == 0 and "accepted: block: number +493012345678" in accepted.output
    assert Store(tmp_path / "calls.db").active_list_entries()[0].value == "+493012345678"
    assert "no suggestions" in _run(config, "suggest").output


def test_import_contacts_twice(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    vcf = tmp_path / "contacts.vcf"
    vcf.write_text("BEGIN:VCARD\nVERSION:3.0\nFN:Anna Müller\nTEL;TYPE=CELL:0171 1234567\nTEL;TYPE=WORK:030 12\n"
                   " 3456\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nFN:Kaputt\nTEL:12\nEND:VCARD\n", encoding="utf-8")
    first = _run(config, "import", str(vcf), "--by", "anna")
    assert first.exit_code == 0, first.output
    assert "2 number(s) from 2 contact(s)" in first.output and "line 8 (Kaputt): '12'" in first.output
    rows = [json.loads(line) for line in _run(config, "lists", "--json").output.splitlines()]
    assert [(r["value"], r["reason"], r["source"]) for r in rows] == [
        ("+491711234567", "contact: Anna Müller", "imported"), ("+4930123456", "contact: Anna Müller", "imported")]
    second = _run(config, "import", str(vcf))
    assert "0 number(s)" in second.output and "2 already on the allow list" in second.output
    assert _run(config, "import", str(tmp_path / "nope.csv")).exit_code == 1


def _seed_old_call(tmp_path, days_ago: int) -> int:
    from callbot.records import TurnFields

    started = datetime.now(timezone.utc) - timedelta(days=days_ago)
    store = Store(tmp_path / "calls.db", clock=lambda: started)
    known = CallerFields(raw="<sip:03012345678@fritz.box>", display=None, number="+493012345678",
                         dialled="03012345678", country=49, region="DE", type="fixed_line", description="Berlin",
                         valid=True, withheld=False, number_source="From")
    with store:
        call_id = store.start_call(known, None).result(5)
        (tmp_path / "rec" / str(call_id)).mkdir(parents=True, exist_ok=True)
        (tmp_path / "rec" / str(call_id) / "02-purpose.wav").write_bytes(b"RIFF")
        store.add_turn(call_id, TurnFields(seq=2, speaker="caller", started_at=started, duration=1.0,
                                           field="purpose", text="Stromvertrag", recording=f"{call_id}/02-purpose.wav"))
        store.update_call(call_id, transcript="Stromvertrag")
        store.finish_call(call_id, "answered")
    return call_id


def test_prune_uses_the_configured_retention(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    assert "nothing to prune" in _run(config, "prune").output
    old = _seed_old_call(tmp_path, 100)
    recent = _seed_old_call(tmp_path, 10)
    result = _run(config, "prune")  # default 90 days
    assert result.exit_code == 0, result.output
    assert "1 call(s) pruned — 1 recording(s) deleted" in result.output
    assert not (tmp_path / "rec" / str(old)).exists() and (tmp_path / "rec" / str(recent)).exists()
    assert "0 call(s) pruned" in _run(config, "prune").output
    assert "1 call(s) pruned" in _run(config, "prune", "--days", "5").output
    assert "everything is kept" in _run(config, "prune", "--days", "0").output


def test_forget_asks_first(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    call_id = _seed_old_call(tmp_path, 1)
    Store(tmp_path / "calls.db").add_list_entry("block", "number", "+493012345678", "x").result(5)
    declined = _run(config, "forget", "030 12345678", input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert Store(tmp_path / "calls.db").call(call_id) is not None
    done = _run(config, "forget", "030 12345678", input="y\n")
    assert done.exit_code == 0, done.output
    assert "erased 1 call(s)" in done.output and "1 list entry" in done.output and "was blocked" in done.output
    assert Store(tmp_path / "calls.db").call(call_id) is None
    assert "nothing stored" in _run(config, "forget", "+493012345678", "--yes").output


def test_export_writes_a_folder(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    _seed_old_call(tmp_path, 1)
    result = _run(config, "export", "+493012345678", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "1 call(s)" in result.output and "1 recording(s)" in result.output
    data = json.loads((tmp_path / "out" / "calls.json").read_text(encoding="utf-8"))
    assert data["calls"][0]["turns"][0]["text"] == "Stromvertrag"
    refused = _run(config, "export", "+493012345678", str(tmp_path / "out"))
    assert refused.exit_code == 1 and "not empty" in refused.output


# -- --config wherever it is typed (and CALLBOT_CONFIG) ----------------------------------


def _config_with_a_call(folder: Path, prompts: Path, outcome: str) -> Path:
    """A config whose call log holds one call ending in ``outcome``, a lead saying ``lead-<outcome>``
    and a block-list entry whose reason is ``list-<outcome>``."""
    folder.mkdir()
    config = write_config(folder, prompts)
    store = Store(folder / "calls.db")
    with store:
        call_id = store.start_call(CallerFields(raw="<sip:03012345678@fritz.box>", display=None,
                                                number="+493012345678", dialled="03012345678", country=49,
                                                region="DE", type="fixed_line", description="Berlin", valid=True,
                                                withheld=False, number_source="From"), None).result(5)
        store.add_lead(call_id, 1, "contact_details", f"lead-{outcome}", None).result(5)
        store.add_list_entry("block", "number", "+493099999999", f"list-{outcome}").result(5)
        store.finish_call(call_id, outcome)
    return config


# (argv, CALLBOT_CONFIG set?) -> the config read: "here" = ./config.toml, "env" = $CALLBOT_CONFIG,
# "a" / "b" = the files given with --config / -c.
CONFIG_TABLE = [
    (["calls", "show", "1"], False, "here"),
    (["--config", "{a}", "calls", "show", "1"], False, "a"),
    (["calls", "show", "1", "--config", "{a}"], False, "a"),
    (["calls", "--config", "{a}", "show", "1"], False, "a"),
    (["-c", "{a}", "calls", "--json"], False, "a"),
    (["calls", "--json", "-c", "{a}"], False, "a"),
    (["leads"], True, "env"),
    (["calls", "show", "1"], True, "env"),
    (["--config", "{a}", "leads"], True, "a"),
    (["calls", "show", "1", "--config", "{a}"], True, "a"),
    (["--config", "{a}", "calls", "show", "1", "--config", "{b}"], False, "b"),
    (["calls", "--config", "{a}", "show", "1", "-c", "{b}"], True, "b"),
    (["--config", "{a}", "calls", "--config", "{b}", "show", "1"], False, "b"),
    (["--config", "{a}", "lists", "--json"], True, "a"),
    (["lists", "--json"], True, "env"),
]


@pytest.mark.parametrize("argv, env, used", CONFIG_TABLE,
                         ids=[" ".join(a) + (" +CALLBOT_CONFIG" if e else "") for a, e, _ in CONFIG_TABLE])
def test_config_is_taken_wherever_it_is_typed(tmp_path, short_prompts, monkeypatch, argv, env, used):
    outcomes = {"here": "timeout", "env": "message_taken", "a": "no_response", "b": "caller_hung_up"}
    paths = {name: _config_with_a_call(tmp_path / name, short_prompts, outcome) for name, outcome in outcomes.items()}
    monkeypatch.chdir(tmp_path / "here")
    args = [arg.format(a=paths["a"], b=paths["b"]) for arg in argv]
    environment = {"CALLBOT_CONFIG": str(paths["env"]) if env else None, "COLUMNS": "200"}
    result = CliRunner(env=environment).invoke(main, args)
    assert result.exit_code == 0, result.output
    marker = "lead-" if "leads" in args else "list-" if "lists" in args else ""
    assert f"{marker}{outcomes[used]}" in result.output
    for name, outcome in outcomes.items():
        if name != used:
            assert outcome not in result.output


# Every command that reads the configuration, with the arguments it needs.
CONFIG_COMMANDS = [
    ["run"], ["check"], ["calls"], ["calls", "show", "1"], ["leads"], ["allow", "030123", "--reason", "x"],
    ["block", "030123", "--reason", "x"], ["unblock", "030123"], ["lists"], ["suggest"], ["import", "c.vcf"],
    ["prune"], ["forget", "030123", "--yes"], ["export", "030123", "out"], ["web"], ["prompts", "list"],
    ["prompts", "render"], ["prompts", "export", "hello", "x.wav"],
]


@pytest.mark.parametrize("command", CONFIG_COMMANDS, ids=" ".join)
def test_every_command_that_reads_the_config_takes_it_before_and_after(tmp_path, command):
    missing = tmp_path / "missing.toml"
    for args in ([*command, "--config", str(missing)], ["--config", str(missing), *command]):
        result = CliRunner(env={"CALLBOT_CONFIG": None}).invoke(main, args)
        assert result.exit_code != 0, (args, result.output)
        assert "No such option" not in result.output and f"config file {missing} does not exist" in result.output
    result = CliRunner(env={"CALLBOT_CONFIG": str(missing)}).invoke(main, command)
    assert result.exit_code != 0 and f"config file {missing} does not exist" in result.output


def test_calls_show_names_the_option_in_its_help():
    result = CliRunner().invoke(main, ["calls", "show", "--help"])
    assert result.exit_code == 0 and "--config" in result.output and "CALLBOT_CONFIG" in result.output


# -- the calls table: one short verdict, nothing split inside a word -------------------------


def _seed_verdicts(db: Path) -> None:
    def fields(**kw):
        base = dict(raw="<sip:03012345678@fritz.box>", display=None, number="+493012345678", dialled="03012345678",
                    country=49, region="DE", type="fixed_line", description="Berlin", valid=True, withheld=False,
                    number_source="From")
        return CallerFields(**{**base, **kw})

    screening = "number shown (+493012345678), not on any list → screening"
    store = Store(db)
    with store:
        withheld = store.start_call(fields(raw='"Anonymous" <sip:anonymous@anonymous.invalid>', number=None,
                                           dialled=None, country=None, region=None, type=None, description=None,
                                           valid=False, withheld=True, number_source=None), None).result(5)
        store.add_event(withheld, "decision", "withheld", "Privacy: id")
        store.finish_call(withheld, "withheld_rejected")
        cold = store.start_call(fields(), None).result(5)
        store.add_event(cold, "decision", "unknown", screening)
        store.update_call(cold, label="cold_call", label_reasons="cold_call: Angebot, Strom; against: —")
        store.finish_call(cold, "cold_call_countered")
        genuine = store.start_call(fields(number="+4917612345678", dialled="017612345678"), None).result(5)
        store.add_event(genuine, "decision", "unknown", screening)
        store.update_call(genuine, label="genuine", label_reasons="genuine: —; against: Rechnung")
        store.finish_call(genuine, "message_taken")
        named = store.start_call(fields(raw='"Petra Schmidt" <sip:petra.schmidt@example.com>', display="Petra Schmidt",
                                        number=None, dialled=None, country=None, region=None, type=None,
                                        description=None, valid=False, number_source=None), None).result(5)
        store.add_event(named, "decision", "unknown",
                        "caller ID shows no number, name 'Petra Schmidt', not on any list → screening")
        store.finish_call(named, "caller_hung_up")


def test_calls_table_shows_a_short_verdict_instead_of_the_rule(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    _seed_verdicts(tmp_path / "calls.db")
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["calls", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for outcome, caller, verdict in [("withheld_rejected", "withheld", "Rufnummer unterdrückt"),
                                     ("cold_call_countered", "+493012345678", "Werbeanruf: Angebot, Strom"),
                                     ("message_taken", "+4917612345678", "Anliegen: Rechnung"),
                                     ("caller_hung_up", "Petra Schmidt (no number)", "unbekannter Anrufer")]:
        assert any(outcome in line and caller in line and verdict in line for line in lines), (outcome, result.output)
    assert "not on any list" not in result.output and "screening" not in result.output
    assert "number shown" not in result.output


def test_calls_table_never_breaks_a_word_at_80_columns(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    _seed_verdicts(tmp_path / "calls.db")
    result = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["calls", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.output.splitlines()), result.output
    words = result.output.split()
    for whole in ("withheld_rejected", "cold_call_countered", "message_taken", "caller_hung_up", "+493012345678",
                  "+4917612345678", "Rufnummer", "unterdrückt", "Werbeanruf:", "Angebot,", "Strom", "Anliegen:",
                  "Rechnung", "Petra", "Schmidt"):
        assert whole in words, (whole, result.output)
    assert "…" not in result.output


def test_calls_show_gives_the_verdict_and_the_label_once(tmp_path, short_prompts):
    config = write_config(tmp_path, short_prompts)
    _seed_verdicts(tmp_path / "calls.db")
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["calls", "show", "2", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "cold_call: Angebot, Strom; against: —" in result.output and "cold_call: cold_call" not in result.output
    assert "Werbeanruf: Angebot, Strom" in result.output


def test_a_write_that_times_out_behind_a_lock_is_a_message_not_a_traceback():
    import click

    from callbot.cli.common import BUSY_MESSAGE, handles_errors

    @click.command()
    @handles_errors
    def blocked_write():
        raise TimeoutError()  # what Future.result(timeout) raises while another program holds the log

    result = CliRunner().invoke(blocked_write, [])
    assert result.exit_code == 1
    assert "another program holds it" in result.output and "Traceback" not in result.output
    assert BUSY_MESSAGE.split("—")[0].strip() in result.output
