"""`callbot check` reports every refusal of `callbot run` — one preflight (callbot/preflight.py).

A table of broken setups: for each, `check` fails (or warns) with the problem AND the bot
(`Bot(config).start()`, as `callbot run` does after reading the config) refuses with the very same
lines; for a good setup both pass. The config the bot gets is read BEFORE the setup is broken, so
the bot's own preflight must find the problem (not only the config loader, which `check` runs too).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from callbot.cli.main import main
from callbot.config.load import load_config
from callbot.errors import CallbotError
from callbot.store.settings import MIN_FREE_MB_MAX
from tests.conftest import free_udp_port

PREFLIGHT_LOG = "callbot.app"


def write_config(tmp_path: Path, prompts: Path, **sections: dict) -> Path:
    """A config for a bot on loopback that would start; ``sections`` override its keys."""
    data = tmp_path / "data"
    settings = {
        "sip": {"register": False, "local_ip": "127.0.0.1", "local_port": free_udp_port(),
                "rtp_port_min": 43000, "rtp_port_max": 43099},
        "calls": {"unknown": "screen"},
        "storage": {"database": f"{data}/calls.db", "recordings": f"{data}/rec", "min_free_mb": 1},
        "prompts": {"dir": str(prompts), "language": "de"},
        "speech": {"transcription": "off", "model": f"{tmp_path}/no-model"},
        "tts": {"cache": f"{data}/cache"},
    }
    for name, values in sections.items():
        settings.setdefault(name, {}).update(values)
    lines = []
    for name, values in settings.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def check(path: Path):
    return CliRunner().invoke(main, ["check", "--config", str(path)])


def run_refusal(config) -> list[str] | None:
    """What the bot refuses to start with (one line per problem), or None when it starts."""
    from callbot.app import Bot

    try:
        bot = Bot(config)
        bot.start()
    except CallbotError as exc:
        return list(getattr(exc, "problems", None) or [str(exc)])
    bot.stop()
    return None


# -- the table ---------------------------------------------------------------------------------
@dataclass
class Setup:
    """A broken setup: ``settings`` for the config file, ``breaks`` the files/sockets after the
    config was read; ``expect`` is in the problem; ``warning``: run starts, check exits 0."""

    name: str
    expect: str
    settings: dict = field(default_factory=dict)
    breaks: Callable[[Path, Path, dict, contextlib.ExitStack], None] = lambda *_: None
    warning: bool = False
    key: str = ""


def _bind(tmp_path, prompts, settings, stack):
    s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    s.bind(("127.0.0.1", settings["local_port"]))


def _database_directory(tmp_path, *_):
    (tmp_path / "data" / "calls.db").mkdir(parents=True)


def _database_not_sqlite(tmp_path, *_):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "calls.db").write_text("name,number\nMüller,030123\n")


def _recordings_file(tmp_path, *_):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rec").write_text("not a folder")


def _recordings_read_only(tmp_path, *_):
    (tmp_path / "data" / "rec").mkdir(parents=True)
    (tmp_path / "data" / "rec").chmod(0o500)


def _prompt_missing(tmp_path, prompts, *_):
    (prompts / "de" / "withheld.wav").unlink()


def _free_mb(path: Path) -> int:
    return shutil.disk_usage(path).free // 2**20


SETUPS = [
    Setup("speech model missing, transcription required", "no usable speech model", key="speech.model",
          settings={"speech": {"transcription": "required"}}),
    Setup("speech model missing, transcription optional", "callers are recorded but not transcribed",
          key="speech.model", settings={"speech": {"transcription": "optional"}}, warning=True),
    Setup("database path is a directory", "is a directory", key="storage.database", breaks=_database_directory),
    Setup("database is not a call log", "is not an SQLite database", key="storage.database",
          breaks=_database_not_sqlite),
    Setup("recordings folder is a file", "is a file, not a directory", key="storage.recordings",
          breaks=_recordings_file),
    Setup("recordings folder not writable", "is not writable", key="storage.recordings",
          breaks=_recordings_read_only),
    Setup("SIP port bound by another socket", "cannot listen for SIP", key="sip.local_port", breaks=_bind),
    Setup("counter_offer_step not in the script", "has no step named 'nope'", key="calls.counter_offer_step",
          settings={"calls": {"blocked": "counter_offer", "counter_offer_step": "nope"}}),
    Setup("counter_offer_step not in the script, unused", "has no step named 'nope'", warning=True,
          key="calls.counter_offer_step", settings={"calls": {"blocked": "announce", "counter_offer_step": "nope"}}),
    Setup("a prompt is missing", "missing prompt 'withheld'", key="prompts.dir", breaks=_prompt_missing),
    Setup("low disk space", "MB free on the disk of", key="storage.database", warning=True,
          settings={"storage": {"min_free_mb": "FREE+1000"}}),
]


@pytest.mark.parametrize("setup", SETUPS, ids=[s.name for s in SETUPS])
def test_check_fails_exactly_where_run_refuses(setup, tmp_path, short_prompts, caplog):
    if setup.breaks is _recordings_read_only and os.geteuid() == 0:
        pytest.skip("root ignores permissions (the 'recordings folder is a file' case covers the folder check)")
    settings = {name: dict(values) for name, values in setup.settings.items()}
    if settings.get("storage", {}).get("min_free_mb") == "FREE+1000":
        settings["storage"]["min_free_mb"] = _free_mb(tmp_path) + 1000
        if settings["storage"]["min_free_mb"] > MIN_FREE_MB_MAX:
            pytest.skip("more free space than storage.min_free_mb accepts")
    path = write_config(tmp_path, short_prompts, **settings)
    config = load_config(path)  # read while the setup is still good: the bot must find the problem itself
    with contextlib.ExitStack() as stack:
        setup.breaks(tmp_path, short_prompts, {"local_port": config.sip.local_port}, stack)
        result = check(path)
        with caplog.at_level(logging.WARNING, logger=PREFLIGHT_LOG):
            refusal = run_refusal(config)

    if setup.warning:
        assert result.exit_code == 0, result.output
        assert refusal is None, refusal
        [warning] = [line for line in result.output.splitlines() if line.startswith("! ")]
        assert warning.startswith(f"! {setup.key}: ") and setup.expect in warning
        # run logs the same warning and starts (free space may move by a few MB in between)
        same = re.compile(r"\d+ MB free")
        assert same.sub("N MB free", warning[2:]) in [same.sub("N MB free", m) for m in caplog.messages]
        return
    assert result.exit_code == 2, result.output
    assert setup.expect in result.output
    assert refusal, "the bot started although check failed"
    assert any(line.startswith(f"{setup.key}: ") and setup.expect in line for line in refusal), refusal
    for line in refusal:  # every reason run gives, check gives word for word
        assert line in result.output, (line, result.output)
    assert "Traceback" not in result.output


def test_a_good_setup_passes_check_and_starts(tmp_path, short_prompts, caplog):
    path = write_config(tmp_path, short_prompts)
    result = check(path)
    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if line.startswith(("✗", "!"))], result.output
    assert "ready: `callbot run` would start" in result.output
    for item in ("call log", "recordings", "prompt de/withheld", "script", "SIP address 127.0.0.1:"):
        assert f"✓ {item}" in result.output
    with caplog.at_level(logging.WARNING, logger=PREFLIGHT_LOG):
        assert run_refusal(load_config(path)) is None
    assert not [r for r in caplog.records if r.name == PREFLIGHT_LOG]


def test_every_problem_at_once(tmp_path, short_prompts):
    path = write_config(tmp_path, short_prompts, speech={"transcription": "required"},
                        calls={"blocked": "counter_offer", "counter_offer_step": "nope"})
    config = load_config(path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", config.sip.local_port))
        result = check(path)
        refusal = run_refusal(config)
    assert result.exit_code == 2
    assert [line.split(":")[0] for line in refusal] == ["calls.counter_offer_step", "speech.model", "sip.local_port"]
    assert "3 problems" in result.output
    for line in refusal:
        assert f"✗ {line}" in result.output


def test_check_loads_the_model_so_a_broken_one_fails_as_run_would(tmp_path, short_prompts):
    """The model's layout is there but the files are empty: `run` would refuse it, so `check` does."""
    model = tmp_path / "model"
    for rel in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLG.fst"):
        (model / rel).parent.mkdir(parents=True, exist_ok=True)
        (model / rel).write_bytes(b"")  # the layout, not a model: loading it fails
    path = write_config(tmp_path, short_prompts, speech={"transcription": "required", "model": str(model)})
    result = check(path)
    assert result.exit_code == 2, result.output
    assert str(model) in result.output


def test_a_model_folder_one_level_too_high_gets_a_hint(tmp_path, short_prompts):
    model = tmp_path / "models" / "vosk-model-small-de-0.15"
    for rel in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLG.fst"):
        (model / rel).parent.mkdir(parents=True, exist_ok=True)
        (model / rel).write_bytes(b"")
    path = write_config(tmp_path, short_prompts, speech={"transcription": "required", "model": str(model.parent)})
    result = check(path)
    assert result.exit_code == 2
    assert f"did you mean {model}?" in result.output


def _run_cli(path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CALLBOT_CONFIG"}
    return subprocess.run([sys.executable, "-m", "callbot", "run", "--config", str(path)],
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("case", ["port bound", "model required"])
def test_callbot_run_refuses_with_what_check_printed(case, tmp_path, short_prompts):
    if case == "model required":
        path = write_config(tmp_path, short_prompts, speech={"transcription": "required"})
    else:
        path = write_config(tmp_path, short_prompts)
    port = load_config(path).sip.local_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        if case == "port bound":
            taken.bind(("127.0.0.1", port))
        checked = check(path)
        ran = _run_cli(path)
    assert checked.exit_code == 2
    assert ran.returncode == 2, ran.stderr
    assert "Traceback" not in ran.stderr
    problems = [line[2:] for line in checked.output.splitlines() if line.startswith("✗ ")]
    assert len(problems) == 1
    assert f"• {problems[0]}" in ran.stderr  # the same line, word for word


def test_min_free_mb_is_validated(tmp_path, short_prompts):
    path = write_config(tmp_path, short_prompts, storage={"min_free_mb": -5})
    result = check(path)
    assert result.exit_code == 2
    assert f"storage.min_free_mb: expected an integer 0-{MIN_FREE_MB_MAX}, got -5" in result.output
    assert load_config(write_config(tmp_path, short_prompts, storage={"min_free_mb": 0})).storage.min_free_mb == 0


def test_check_says_who_may_ring_the_bot(tmp_path, short_prompts):
    """#10.5: the trusted-source rule in words, for registered and direct mode."""
    result = check(write_config(tmp_path, short_prompts))
    assert "new calls accepted from: 127.0.0.0/8, ::1" in result.output and "direct mode" in result.output
    assert "everyone else gets 403" in result.output
    listed = check(write_config(tmp_path, short_prompts, sip={"trusted_sources": ["192.168.178.1", "10.0.0.0/8"]}))
    assert "new calls accepted from: 192.168.178.1, 10.0.0.0/8 — only sip.trusted_sources" in listed.output


def test_check_names_the_codecs_and_warns_when_g722_cannot_load(tmp_path, short_prompts, monkeypatch):
    """#10.1: G.722 is answered only where its codec library loads; check says which codecs calls get."""
    path = write_config(tmp_path, short_prompts)
    result = check(path)
    assert "codecs: G.722 (16 kHz wideband), PCMU, PCMA" in result.output, result.output
    import callbot.preflight as preflight

    monkeypatch.setattr(preflight, "wideband_problem", lambda: "No module named 'G722'")
    degraded = check(path)
    assert "only PCMU and PCMA (8 kHz): G.722 cannot be used (No module named 'G722')" in degraded.output
    assert "pip install 'G722" in degraded.output
