"""Running as a service: `callbot install-service` (the systemd units for `callbot
run` and `callbot web`), the Containerfile, and the one list of apt packages the
bot needs at run time that the Containerfile, the README and .ci/run share."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from callbot.cli import service
from callbot.cli.main import main
from callbot.cli.service import RUNTIME_APT_PACKAGES, VENV_APT_PACKAGE

ROOT = Path(__file__).resolve().parents[1]
SERVICE_DIR = ROOT / "callbot" / "service"
UNIT_NAMES = ("callbot.service", "callbot-web.service")
#: Keys a unit of ours may use, per section (a typo is a key systemd would ignore).
KNOWN_KEYS = {
    "Unit": {"Description", "After", "Wants", "StartLimitIntervalSec", "StartLimitBurst", "Documentation"},
    "Service": {
        "Type", "User", "Group", "WorkingDirectory", "EnvironmentFile", "Environment", "ExecStart",
        "Restart", "RestartSec", "RestartPreventExitStatus", "KillMode", "KillSignal", "TimeoutStopSec",
        "StandardOutput", "StandardError", "SyslogIdentifier", "UMask", "NoNewPrivileges", "ProtectSystem",
        "ReadWritePaths", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
        "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
        "ProtectHostname", "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime",
        "RestrictSUIDSGID", "LockPersonality", "CapabilityBoundingSet",
    },
    "Install": {"WantedBy"},
}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values]}}; fails on anything that is not
    a comment, a [Section] or a Key=value line."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            current = sections.setdefault(header.group(1), {})
            continue
        pair = re.fullmatch(r"([A-Za-z]+)=(.*)", line)
        assert pair and current is not None, f"line {number} is no Key=value in a section: {line!r}"
        current.setdefault(pair.group(1), []).append(pair.group(2))
    return sections


@pytest.fixture()
def setup(tmp_path):
    """A configuration whose call log lives somewhere else than its folder."""
    etc = tmp_path / "etc"
    etc.mkdir()
    config = etc / "config.toml"
    database = tmp_path / "var" / "log" / "calls.db"
    config.write_text(f'[prompts]\ndir = "{ROOT / "prompts"}"\n[storage]\ndatabase = "{database}"\n'
                      f'recordings = "rec"\n', encoding="utf-8")
    return config, database


def _print_units(config: Path, user: str = "nobody") -> dict[str, str]:
    result = CliRunner().invoke(main, ["install-service", "--print", "--user", user, "--config", str(config)])
    assert result.exit_code == 0, result.output
    units = {}
    for chunk in result.stdout.split("# --- ")[1:]:
        path, _, text = chunk.partition("\n")
        units[Path(path).name] = text
    assert set(units) == set(UNIT_NAMES)
    return units


def test_units_parse_and_name_the_chosen_paths(setup):
    config, database = setup
    units = _print_units(config)
    for name, text in units.items():
        assert "{{" not in text and "}}" not in text, f"{name}: a field was not filled in"
        unit = parse_unit(text)
        assert set(unit) == {"Unit", "Service", "Install"}
        for section, keys in unit.items():
            assert set(keys) <= KNOWN_KEYS[section], f"{name} [{section}]: unknown keys {set(keys) - KNOWN_KEYS[section]}"
        s = {key: values[-1] for key, values in unit["Service"].items()}
        command = "run" if name == "callbot.service" else "web"
        assert shlex.split(s["ExecStart"]) == [str(Path(sys.executable).absolute()), "-m", "callbot", command,
                                               "--config", str(config)]
        assert s["User"] == "nobody" and s["User"] != "root"
        assert s["WorkingDirectory"] == str(config.parent)
        # restarts on failure, stops cleanly, logs to the journal
        assert s["Restart"] == "on-failure"
        assert s["KillMode"] == "mixed" and s["KillSignal"] == "SIGTERM"
        assert int(s["TimeoutStopSec"]) >= 30
        assert s["StandardError"] == "journal" and not any("file:" in v for v in (s["StandardOutput"], s["StandardError"]))
        # hardening, and what stays writable
        assert s["NoNewPrivileges"] == "yes" and s["ProtectSystem"] == "strict"
        writable = s["ReadWritePaths"].split()
        assert str(database.parent) in writable
        assert str(config.parent / "rec") in writable
        assert str(config.parent / "data" / "cache" / "prompts") in writable
        assert (str(ROOT / "prompts") in writable) == (name == "callbot-web.service")
        assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def _verify_problems(paths: list[Path]) -> list[str]:
    done = subprocess.run(["systemd-analyze", "verify", *map(str, paths)], capture_output=True, text=True,
                          timeout=120)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    # "nobody" is the one user every test machine has; systemd warns about it by name.
    problems = [line for line in lines if "Special user nobody" not in line]
    if done.returncode != 0 and not problems:
        problems = [f"exit code {done.returncode}"]
    return problems


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian package systemd); the parse test still runs")
def test_systemd_analyze_verify_accepts_the_units(setup, tmp_path):
    config, _ = setup
    folder = tmp_path / "units"
    folder.mkdir()
    for name, text in _print_units(config).items():
        (folder / name).write_text(text, encoding="utf-8")
    # the checker sees a broken unit (systemd only warns about an unknown key)
    broken = folder / "broken.service"
    broken.write_text((folder / "callbot.service").read_text().replace("ProtectSystem=", "ProtectSistem="))
    assert _verify_problems([broken]), "systemd-analyze verify did not notice an unknown key"
    assert _verify_problems([folder / name for name in UNIT_NAMES]) == []


def test_install_service_refuses_without_root(setup, tmp_path, monkeypatch):
    config, _ = setup
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    units = tmp_path / "units"
    result = CliRunner().invoke(main, ["install-service", "--config", str(config), "--user", "nobody",
                                       "--unit-dir", str(units)])
    assert result.exit_code != 0
    assert "needs root" in result.output and "--print" in result.output
    assert "Traceback" not in result.output
    assert not units.exists()


def test_install_service_writes_the_units_and_says_what_next(setup, tmp_path, monkeypatch):
    config, database = setup
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    chowned = []
    monkeypatch.setattr(service.os, "chown", lambda path, uid, gid: chowned.append(Path(path)))
    units = tmp_path / "units"
    result = CliRunner().invoke(main, ["install-service", "--config", str(config), "--user", "nobody",
                                       "--unit-dir", str(units)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in units.iterdir()) == sorted(UNIT_NAMES)
    assert parse_unit((units / "callbot.service").read_text())["Service"]["User"] == ["nobody"]
    assert "systemctl daemon-reload" in result.output
    assert "systemctl enable --now callbot" in result.output
    # ProtectSystem=strict: the folders the bot writes exist before it starts, owned by its user
    assert database.parent.is_dir() and database.parent in chowned


@pytest.mark.parametrize("user, expected", [("root", "must not run as root"), ("no-such-user-4711", "useradd")])
def test_install_service_refuses_a_bad_user(setup, tmp_path, monkeypatch, user, expected):
    config, _ = setup
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    result = CliRunner().invoke(main, ["install-service", "--config", str(config), "--user", user,
                                       "--unit-dir", str(tmp_path / "units")])
    assert result.exit_code != 0 and expected in result.output
    assert not (tmp_path / "units").exists()


def test_install_service_refuses_a_missing_config_and_a_path_with_spaces(tmp_path):
    result = CliRunner().invoke(main, ["install-service", "--print", "--config", str(tmp_path / "none.toml")])
    assert result.exit_code != 0 and "no configuration at" in result.output
    spaced = tmp_path / "my folder"
    spaced.mkdir()
    (spaced / "config.toml").write_text(f'[prompts]\ndir = "{ROOT / "prompts"}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["install-service", "--print", "--config", str(spaced / "config.toml")])
    assert result.exit_code != 0 and "may not contain spaces" in result.output
    assert "Traceback" not in result.output


def test_the_service_files_are_package_data():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = data["tool"]["setuptools"]["package-data"]["callbot"]
    shipped = {p for g in globs for p in (ROOT / "callbot").glob(g)}
    for name in (*UNIT_NAMES, "Containerfile"):
        assert SERVICE_DIR / name in shipped, f"callbot/service/{name} is not in the package data"
    assert service.template("callbot.service").startswith("#")


# -- the Containerfile -------------------------------------------------------------
DOCKERFILE_INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                           "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in (SERVICE_DIR / "Containerfile").read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        word, _, rest = (pending + line).strip().partition(" ")
        instructions.append((word, rest.strip()))
        pending = ""
    assert not pending, "the Containerfile ends in a continuation line"
    return instructions


def apt_installs(command: str) -> set[str]:
    """The packages of every `apt-get install` in a shell command."""
    packages = set()
    for line in command.splitlines():
        for part in re.split(r"&&|\|\||;|\{|\}", line.split(" #", 1)[0]):
            packages |= _apt_install_words(shlex.split(part))
    return packages


def _apt_install_words(words: list[str]) -> set[str]:
    words = [w for w in words if "=" not in w or w.startswith("-")]  # drop VAR=value prefixes
    if "apt-get" not in words or "install" not in words:
        return set()
    return {w for w in words[words.index("install") + 1:] if not w.startswith("-")}


def test_the_containerfile_parses():
    instructions = containerfile()
    assert instructions[0][0] == "FROM", "the first instruction must be FROM"
    unknown = {word for word, _ in instructions} - DOCKERFILE_INSTRUCTIONS
    assert not unknown, f"unknown instructions: {unknown}"
    # the apt packages: Python with venv and exactly the runtime dependencies
    installed = set().union(*(apt_installs(args) for word, args in instructions if word == "RUN"))
    assert installed == {"python3", VENV_APT_PACKAGE, *RUNTIME_APT_PACKAGES}
    # a non-root user, callbot installed into a virtual environment, `callbot run --config /data/config.toml`
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = " ".join(args for word, args in instructions if word == "RUN")
    assert "python3 -m venv /opt/callbot/venv" in runs and "/opt/callbot/venv/bin/pip install" in runs
    import json

    command = json.loads([args for word, args in instructions if word == "CMD"][-1])
    assert command == ["/opt/callbot/venv/bin/callbot", "run", "--config", "/data/config.toml"]
    # what it copies exists in the repository (the build context is its root)
    for word, args in instructions:
        if word == "COPY":
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_the_runtime_packages_are_named_alike_everywhere():
    """RUNTIME_APT_PACKAGES is the list; the README's quick start installs them (and
    python3-venv), .ci/run installs them for the tests."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    assert apt_installs(quick) == {VENV_APT_PACKAGE, *RUNTIME_APT_PACKAGES}
    checked = re.search(r"dpkg -s ([\w.+\- ]+?)\s*>", quick)
    assert checked and set(checked.group(1).split()) == {VENV_APT_PACKAGE, *RUNTIME_APT_PACKAGES}
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_packages = set(re.search(r"^APT_PACKAGES=\(([^)]*)\)", ci, re.M).group(1).split())
    assert {VENV_APT_PACKAGE, *RUNTIME_APT_PACKAGES} <= ci_packages
