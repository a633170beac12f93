"""`callbot status`: the registration state the running bot writes (status.json), in words."""

from __future__ import annotations

import os
import time

from click.testing import CliRunner

from callbot.botstatus import BotStatus, read_status, status_path, write_status
from callbot.cli.main import main
from tests.conftest import REPO


def config_file(tmp_path, register: bool = True):
    path = tmp_path / "callbot.toml"
    path.write_text(f'[sip]\nserver = "127.0.0.1"\nport = 5070\nregister = {str(register).lower()}\n'
                    f'[storage]\ndatabase = "{tmp_path / "data" / "callbot.db"}"\n'
                    f'[prompts]\ndir = "{REPO / "prompts"}"\n')
    (tmp_path / "data").mkdir(exist_ok=True)
    return path


def run_status(path):
    return CliRunner().invoke(main, ["status", "--config", str(path)])


def test_without_a_status_file_the_bot_has_not_run(tmp_path):
    result = run_status(config_file(tmp_path))
    assert result.exit_code == 1 and "has not run" in result.output
    assert "127.0.0.1:5070" in result.output  # who may ring it


def test_a_running_bot_that_lost_its_registration_says_since_when_and_why(tmp_path):
    path = config_file(tmp_path)
    now = time.time()
    write_status(status_path(tmp_path / "data" / "callbot.db"),
                 BotStatus(pid=os.getpid(), started=now - 600, registrar="127.0.0.1:5070", registered=False,
                           since=now - 42, last_failure=now - 2, last_error="the registrar did not answer",
                           next_try=now + 8))
    result = run_status(path)
    assert result.exit_code == 3, result.output
    assert "NOT registered at 127.0.0.1:5070" in result.output
    assert "the registrar did not answer" in result.output and "next try in" in result.output


def test_a_registered_bot_exits_0_and_a_dead_one_1(tmp_path):
    path = config_file(tmp_path)
    file = status_path(tmp_path / "data" / "callbot.db")
    write_status(file, BotStatus(pid=os.getpid(), started=time.time(), registrar="127.0.0.1:5070",
                                 registered=True, since=time.time(), granted_expires=300))
    result = run_status(path)
    assert result.exit_code == 0 and "registered at 127.0.0.1:5070" in result.output
    dead = read_status(file)
    dead.running = False
    write_status(file, dead)
    result = run_status(path)
    assert result.exit_code == 1 and "not running" in result.output


def test_a_status_file_with_hostile_text_is_shown_literally(tmp_path):
    path = config_file(tmp_path)
    write_status(status_path(tmp_path / "data" / "callbot.db"),
                 BotStatus(pid=os.getpid(), started=time.time(), registrar="127.0.0.1:5070", registered=False,
                           last_error="[/] [bold red]403 Forbidden[/]", since=time.time()))
    result = run_status(path)
    assert result.exit_code == 3 and "[bold red]403 Forbidden[/]" in result.output


def test_an_unreadable_status_file_counts_as_none(tmp_path):
    file = status_path(tmp_path / "callbot.db")
    file.write_text("{not json")
    assert read_status(file) is None
