"""The README's quick start is what a new user types: its first command block
(the first ```sh block under "## Quick start") installs callbot into a virtual
environment and runs the demo on a stock Debian 12 / Ubuntu 24.04.

``test_the_quick_start_works_in_a_fresh_clone`` runs that block VERBATIM in a fresh
``git clone`` of this repository in a throwaway directory. A clone holds what is
COMMITTED (HEAD): uncommitted edits of the README or the code are not what it
checks. It needs PyPI and several minutes, so it runs in CI only (CI=true).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The whole block: apt (a no-op when the packages are there), venv, pip, demo.
BLOCK_TIMEOUT = 1500


def quick_start_block(readme: str | None = None) -> str:
    """The first ```sh block under the "## Quick start" heading, as written."""
    readme = readme if readme is not None else (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Quick start\n", 1)
    assert len(section) == 2, "README.md has no '## Quick start' section"
    body = section[1].split("\n## ", 1)[0]
    match = re.search(r"^```sh\n(.*?)^```$", body, re.S | re.M)
    assert match, "the Quick start section has no ```sh block"
    return match.group(1)


def test_the_block_is_found_by_its_marker():
    readme = "# x\n\n```sh\nnot this\n```\n\n## Quick start\n\ntext\n\n```sh\necho one\necho two\n```\n\n```sh\nno\n```\n"
    assert quick_start_block(readme) == "echo one\necho two\n"


def test_the_quick_start_installs_into_a_venv_and_runs_the_demo():
    """What the block must do on Debian 12 (PEP 668): no pip into the system's
    Python, a virtual environment, callbot installed into it, then the demo."""
    block = quick_start_block()
    lines = [line.split(" #", 1)[0].strip() for line in block.splitlines()]
    commands = [line for line in lines if line]
    assert "python3 -m venv .venv" in commands
    assert ".venv/bin/pip install -e ." in commands
    assert commands[-1] == ".venv/bin/callbot demo"
    assert commands.index("python3 -m venv .venv") < commands.index(".venv/bin/pip install -e .")
    assert not any(re.search(r"(^|[\s;&|])(python3 -m )?pip3? install", c) and ".venv/bin/" not in c
                   for c in commands), "pip must install into the virtual environment, not the system"
    # apt-get only when something is missing, with sudo only when not root
    apt = next(c for c in commands if "apt-get install" in c)
    assert apt.startswith("dpkg -s ") and "||" in apt
    assert any("id -u" in c and "sudo" in c for c in commands)
    # the second command of the quick start runs the tests
    after = (ROOT / "README.md").read_text(encoding="utf-8").split(block, 1)[1].split("\n## ", 1)[0]
    assert "bash .ci/run" in after


@pytest.mark.skipif(os.environ.get("CI") != "true",
                    reason="runs the README's quick start in a fresh clone: needs PyPI and minutes — CI only (CI=true)")
@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs git and this repository's history to clone")
@pytest.mark.timeout(BLOCK_TIMEOUT + 300)
def test_the_quick_start_works_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "callbot"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    block = quick_start_block((clone / "README.md").read_text(encoding="utf-8"))  # the committed README
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CALLBOT_CONFIG")}
    env["DEBIAN_FRONTEND"] = "noninteractive"
    # bash -e: every line of the block must succeed, as it would for someone pasting it
    done = subprocess.run(["bash", "-e", "-c", block], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT)
    shown = f"--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}"
    assert done.returncode == 0, shown
    assert (clone / ".venv" / "bin" / "callbot").exists(), shown
    # the demo kept its log, said how to look at it, and the log holds the calls it placed
    assert (clone / "callbot-demo").is_dir(), "the demo keeps its log in ./callbot-demo/\n" + shown
    printed = re.search(r"callbot calls --config\s+(\S+)", done.stdout)
    assert printed, "the demo prints a `callbot calls --config …` line\n" + shown
    config = printed.group(1).strip("`'\".,;:)")
    listed = subprocess.run([str(clone / ".venv" / "bin" / "callbot"), "calls", "--config", config,
                             "--json"], cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    calls = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert len(calls) >= 2, listed.stdout
    assert any(c["withheld"] for c in calls) and any(not c["withheld"] for c in calls), listed.stdout
    assert all(c["outcome"] for c in calls), "every demo call has ended with an outcome: " + listed.stdout
