"""`callbot demo`: three callers tell the whole story (withheld, cold caller → counter-offer →
lead, genuine caller → message), without a speech model; the log stays in the demo folder with
a config.toml, and the commands the demo prints work on it; a new run starts afresh; a folder
the demo did not make is refused."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from callbot.audio import decode_file, ulaw_decode, ulaw_encode
from callbot.cli.demo import MARKER, demo_recognizer, prepare_folder
from callbot.cli.demo_voice import (COLD_CALLER, DEMO_MARK, GENUINE_CALLER, WORDS, DemoRecognizer,
                                    recording_path, vosk_style)
from callbot.cli.main import main
from callbot.config.load import load_config
from callbot.passwords import verify_password
from callbot.text.classify import yes_no
from callbot.text.findings import summarize
from callbot.web.app import create_app

#: The demo must stay well under 2 minutes; this only bounds a hung run.
DEMO_TIMEOUT = 240
ENV = dict(os.environ, COLUMNS="200")
ENV.pop("CALLBOT_CONFIG", None)


def run_demo(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "callbot", "demo", *args], capture_output=True, text=True,
                          timeout=DEMO_TIMEOUT, cwd=cwd, env=ENV)


def printed_commands(stdout: str) -> list[list[str]]:
    return [shlex.split(line.strip()) for line in stdout.splitlines() if line.startswith("  callbot ")]


def run_printed(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    assert command[0] == "callbot"
    return subprocess.run([sys.executable, "-m", "callbot", *command[1:]], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env=ENV)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """`callbot demo` in an empty directory (no speech model there): the default folder ./callbot-demo."""
    cwd = tmp_path_factory.mktemp("demo")
    result = run_demo(cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return cwd, result


def test_demo_tells_the_whole_story_without_a_speech_model(first_run):
    cwd, result = first_run
    stdout = result.stdout
    assert "Traceback" not in result.stderr
    assert "no speech model installed" in stdout and DEMO_MARK in stdout
    story = {int(m.group(1)): m.group(0) for m in re.finditer(r"^call (\d+): .*$", stdout, re.M)}
    assert len(story) == 3, stdout
    assert "withheld number" in story[1] and story[1].endswith("→ withheld_rejected")
    assert "+493012345678 (Thomas Müller, Vergleichsportal GmbH), said to be cold_call" in story[2]
    assert story[2].endswith("→ cold_call_countered")
    assert "+49409876543 (Petra Schmidt, Schmidt Bau GmbH), said to be genuine" in story[3]
    assert story[3].endswith("→ message_taken")
    assert "  lead: gern thomas müller telefon null drei null eins zwei drei vier fünf sechs sieben acht" in stdout
    assert "expected" not in stdout


def test_demo_keeps_its_log_and_prints_the_commands_that_look_at_it(first_run):
    cwd, result = first_run
    folder = cwd / "callbot-demo"
    assert (folder / MARKER).is_file() and (folder / "data" / "callbot.db").is_file()
    assert any((folder / "data" / "recordings").rglob("*.wav"))
    commands = printed_commands(result.stdout)
    config = ["--config", "callbot-demo/config.toml"]
    assert commands == [["callbot", "calls", *config], ["callbot", "calls", "show", "2", *config],
                        ["callbot", "leads", *config], ["callbot", "web", *config]]
    assert "again starts afresh" in result.stdout

    calls = run_printed(commands[0], cwd)
    assert calls.returncode == 0, calls.stderr
    for outcome in ("withheld_rejected", "cold_call_countered", "message_taken"):
        assert outcome in calls.stdout
    show = run_printed(commands[1], cwd)
    assert show.returncode == 0, show.stderr
    assert "cold_call_countered" in show.stdout and "Thomas Müller" in show.stdout
    assert DEMO_MARK in show.stdout                         # the words are marked as the demo's own
    assert "nein haben wir nicht" in show.stdout            # the answer that took the counter-offer path
    leads = run_printed(commands[2], cwd)
    assert leads.returncode == 0, leads.stderr
    assert "Vergleichsportal GmbH" in leads.stdout and "+493012345678" in leads.stdout
    assert "gern thomas müller telefon" in leads.stdout


def test_the_config_is_the_demos_and_the_printed_password_opens_the_web_page(first_run):
    cwd, result = first_run
    password = re.search(r"password (\S+)  \(shown only now", result.stdout).group(1)
    config_path = cwd / "callbot-demo" / "config.toml"
    assert password not in config_path.read_text()
    config = load_config(config_path)
    assert config.sip.register is False and config.sip.local_ip == "127.0.0.1"
    assert config.storage.database == cwd / "callbot-demo" / "data" / "callbot.db"
    assert config.speech.transcription == "optional"
    assert (config.prompts.dir / "de" / "script.toml").is_file()
    assert verify_password(password, config.web.password_hash)
    with TestClient(create_app(config)) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = client.post("/login", data={"password": password, "csrf_token": token, "next": "/calls/2"})
        assert response.status_code == 200, response.status_code
        assert "Thomas Müller" in response.text and DEMO_MARK in response.text


def test_a_second_run_starts_afresh_and_touches_nothing_outside_its_folder(first_run):
    cwd, _ = first_run
    folder = cwd / "callbot-demo"
    old = next((folder / "data" / "recordings").rglob("*.wav"))
    stray = folder / "data" / "recordings" / "old-run.txt"
    stray.write_text("left by the first run")
    neighbour = cwd / "notes.txt"
    neighbour.write_text("not the demo's")
    old_config = (folder / "config.toml").read_text()

    again = run_demo(cwd, "--data", str(folder))
    assert again.returncode == 0, again.stdout + again.stderr
    assert not stray.exists()                                   # the old recordings are gone …
    assert old.exists()                                         # … and the new run made its own
    assert (folder / "config.toml").read_text() != old_config   # a new password, a new port
    assert neighbour.read_text() == "not the demo's"
    calls = run_printed(["callbot", "calls", "--config", str(folder / "config.toml"), "--json"], cwd)
    assert calls.returncode == 0, calls.stderr
    rows = [json.loads(line) for line in calls.stdout.splitlines()]
    assert sorted(row["id"] for row in rows) == [1, 2, 3]      # not six calls: the log was replaced


def test_a_folder_the_demo_did_not_make_is_refused(tmp_path):
    foreign = tmp_path / "project"
    foreign.mkdir()
    (foreign / "config.toml").write_text("# someone's own config\n")
    result = CliRunner().invoke(main, ["demo", "--data", str(foreign)])
    assert result.exit_code == 2
    assert "is not a callbot demo folder" in result.output and MARKER in result.output
    assert "--data DIR" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in foreign.iterdir()) == ["config.toml"]
    assert (foreign / "config.toml").read_text() == "# someone's own config\n"


def test_prepare_folder_accepts_new_empty_and_its_own_folders_and_never_follows_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    new = tmp_path / "new" / "demo"
    prepare_folder(new)
    assert (new / MARKER).is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_folder(empty)
    (empty / "data").mkdir()
    (empty / "data" / "recordings").symlink_to(outside)
    (empty / "data" / "models").mkdir()
    prepare_folder(empty)
    assert not (empty / "data" / "recordings").exists() and (empty / "data" / "models").is_dir()
    assert (outside / "keep.txt").read_text() == "x"


def test_demo_help_says_a_run_replaces_the_folder():
    result = CliRunner().invoke(main, ["demo", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "callbot-demo" in text and "replaces the demo folder's call log, recordings" in text
    assert DEMO_MARK in text


# -- the demo callers' words ----------------------------------------------------------
@pytest.mark.parametrize("language", sorted(WORDS))
def test_the_demo_recognizer_knows_each_bundled_recording_and_nothing_else(language):
    recognizer = DemoRecognizer(language)
    for name, text in WORDS[language].items():
        pcm = decode_file(recording_path(name, language))
        over_the_phone = b"\0" * 4800 + ulaw_decode(ulaw_encode(pcm)) + b"\0" * 6400  # pre-roll, G.711, silence
        assert recognizer.words_for(over_the_phone) == vosk_style(text), name
    other = decode_file(recording_path("identity", "en" if language == "de" else "de"))
    assert recognizer.words_for(other) == ""
    assert recognizer.words_for(b"\0" * 16000) == ""


@pytest.mark.parametrize("language", sorted(WORDS))
def test_the_callers_words_take_the_default_scripts_paths(language):
    words = {name: vosk_style(text) for name, text in WORDS[language].items()}
    cold = summarize({"identity": words[COLD_CALLER[0]], "purpose": words[COLD_CALLER[1]]}, language)
    assert cold.label == "cold_call" and cold.person is not None and cold.company is not None
    assert yes_no(words[COLD_CALLER[2]], language) == "no"          # no website: the offer follows
    genuine = summarize({"identity": words[GENUINE_CALLER[0]], "purpose": words[GENUINE_CALLER[1]]}, language)
    assert genuine.label == "genuine" and genuine.person is not None


def test_with_a_speech_model_installed_the_demo_transcribes_for_real(tmp_path):
    model = tmp_path / "data" / "models" / "vosk-model-small-de-0.15"
    assert isinstance(demo_recognizer(model, "de"), DemoRecognizer)   # no model: the known words
    model.mkdir(parents=True)
    assert demo_recognizer(model, "de") is None                       # the bot loads the model itself


def test_the_demos_sip_port_never_lands_in_its_rtp_range():
    """The kernel's ephemeral ports (32768-60999) overlap the demo's RTP range: a SIP port picked
    there made the demo's own config invalid (sip.local_port inside the RTP range)."""
    import socket

    from callbot.cli.demo import free_port

    avoid = range(32768, 50000)
    assert all(free_port(socket.SOCK_DGRAM, avoid=avoid) not in avoid for _ in range(200))
