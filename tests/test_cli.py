"""The command line: messages instead of tracebacks, JSON lines, run/stop, demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner

from callbot.cli import main, parse_since
from callbot.store import CallerFields, Store
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


def test_demo_places_a_withheld_and_a_numbered_call():
    env = dict(os.environ, COLUMNS="200")
    result = subprocess.run([sys.executable, "-m", "callbot", "demo"], capture_output=True, text=True,
                            timeout=120, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr
    assert "withheld_rejected" in result.stdout
    assert "answered" in result.stdout and "+493012345678" in result.stdout
