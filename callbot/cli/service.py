"""`callbot install-service`: the systemd units for `callbot run` and `callbot web`,
filled in for this installation and written to /etc/systemd/system (or printed).

The templates live in ``callbot/service/`` (package data) next to the
``Containerfile``; :data:`RUNTIME_APT_PACKAGES` is the one list of Debian packages
the bot needs at run time (the Containerfile, the README's quick start and
``.ci/run`` name the same ones; tests/test_service.py checks it).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click

from callbot.cli.common import config_option, err, handles_errors, out
from callbot.errors import CallbotError

#: Debian/Ubuntu packages `callbot run` needs besides Python: espeak-ng speaks
#: prompts whose text was changed, libsndfile1 reads the owner's recordings.
RUNTIME_APT_PACKAGES = ("espeak-ng", "libsndfile1")
#: What creating the virtual environment needs on Debian/Ubuntu (`python3 -m venv`).
VENV_APT_PACKAGE = "python3-venv"

UNIT_DIR = Path("/etc/systemd/system")
ENV_FILE = Path("/etc/callbot/callbot.env")
#: unit file name -> template in callbot/service/
UNITS = {"callbot.service": "callbot.service", "callbot-web.service": "callbot-web.service"}
#: Characters a path in a unit may not contain (they would need systemd quoting).
_UNSAFE = re.compile(r"[\s\"'\\$;]")


@dataclass(frozen=True)
class ServicePaths:
    python: Path        # the interpreter callbot is installed in (a venv's bin/python)
    config: Path
    workdir: Path       # the config's folder: its relative paths are relative to it
    run_writes: tuple[Path, ...]   # what `callbot run` writes (call log, recordings, prompt cache)
    web_writes: tuple[Path, ...]   # … and `callbot web` (also the prompt folder)


def template(name: str) -> str:
    return resources.files("callbot").joinpath("service").joinpath(name).read_text(encoding="utf-8")


def _outermost(paths) -> tuple[Path, ...]:
    """The paths without those inside another one of them, in order."""
    unique = sorted({Path(p) for p in paths}, key=lambda p: (len(p.parts), str(p)))
    kept: list[Path] = []
    for path in unique:
        if not any(path == k or k in path.parents for k in kept):
            kept.append(path)
    return tuple(kept)


def service_paths(config_path: Path, python: Path | None = None) -> ServicePaths:
    """The paths the units name, from the configuration (which must load)."""
    from callbot.config.load import load_config

    config_path = config_path.absolute()
    if not config_path.is_file():
        raise CallbotError(f"no configuration at {config_path} — copy the repository's config.toml there "
                           f"(or pass --config PATH) and check it with `callbot check --config {config_path}`")
    config = load_config(config_path)
    workdir = config_path.parent

    def where(path: Path) -> Path:
        return path if path.is_absolute() else workdir / path

    run_writes = _outermost([where(config.storage.database).parent, where(config.storage.recordings),
                             where(config.tts.cache)])
    web_writes = _outermost([*run_writes, where(config.prompts.dir)])
    return ServicePaths(Path(python or sys.executable).absolute(), config_path, workdir, run_writes, web_writes)


def _unit_value(path: Path) -> str:
    text = str(path)
    if _UNSAFE.search(text):
        raise CallbotError(f"{text!r}: a path in a systemd unit may not contain spaces, quotes, '$' or ';' — "
                           f"move callbot and its configuration to a plain path such as /opt/callbot")
    return text.replace("%", "%%")  # systemd's specifier character


def render_units(paths: ServicePaths, user: str, group: str, env_file: Path = ENV_FILE) -> dict[str, str]:
    """unit file name -> its text, every {{field}} filled in."""
    common = {
        "user": user, "group": group, "python": _unit_value(paths.python),
        "config": _unit_value(paths.config), "workdir": _unit_value(paths.workdir),
        "envfile": _unit_value(env_file),
    }
    writes = {"callbot.service": paths.run_writes, "callbot-web.service": paths.web_writes}
    units = {}
    for name, source in UNITS.items():
        fields = dict(common, writable=" ".join(_unit_value(p) for p in writes[name]))
        text = re.sub(r"\{\{(\w+)\}\}", lambda m: fields[m.group(1)], template(source))
        units[name] = text
    return units


# -- the service user ------------------------------------------------------------
def _account(user: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(user)
    except KeyError:
        return None


def _cannot_reach(path: Path, account: pwd.struct_passwd) -> Path | None:
    """The first folder on the way to ``path`` the user may not enter (mode bits only)."""
    groups = {account.pw_gid} | {g.gr_gid for g in grp.getgrall() if account.pw_name in g.gr_mem}
    for folder in reversed(path.parents):
        try:
            st = folder.stat()
        except OSError:
            return folder
        if st.st_uid == account.pw_uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return folder
    return None


def _user_notes(paths: ServicePaths, account: pwd.struct_passwd) -> list[str]:
    notes, seen = [], set()
    for path in dict.fromkeys((paths.python, paths.python.resolve(), paths.config)):
        blocked = _cannot_reach(path, account)
        if blocked is not None and blocked not in seen:
            seen.add(blocked)
            notes.append(f"user {account.pw_name} cannot enter {blocked} (needed for {path}) — install callbot "
                         f"somewhere it can read, e.g. /opt/callbot")
    hidden = [p for p in (paths.python, paths.config, *paths.web_writes)
              if any(p == t or t in p.parents for t in (Path("/tmp"), Path("/var/tmp")))]
    if hidden:
        notes.append(f"{hidden[0]} is in /tmp, which the service does not see (PrivateTmp=yes) — "
                     f"keep callbot and its data elsewhere, e.g. /opt/callbot")
    for folder in paths.web_writes:
        if folder.exists() and folder.stat().st_uid != account.pw_uid:
            notes.append(f"{folder} belongs to someone else — let the service write it: "
                         f"chown -R {account.pw_name}: {folder}")
    return notes


def _create_writable(paths: ServicePaths, account: pwd.struct_passwd) -> list[Path]:
    """Make the folders the service writes that do not exist yet, owned by its user
    (ProtectSystem=strict: the service itself cannot create them)."""
    made = []
    for folder in paths.web_writes:
        if not folder.exists():
            folder.mkdir(parents=True)
            os.chown(folder, account.pw_uid, account.pw_gid)
            made.append(folder)
    return made


# -- the command -----------------------------------------------------------------
@click.command("install-service")
@config_option
@click.option("--user", "user", default="callbot", show_default=True,
              help="Unprivileged user the services run as (must exist; not root).")
@click.option("--print", "print_only", is_flag=True, help="Print the units instead of writing them.")
@click.option("--unit-dir", type=click.Path(file_okay=False, path_type=Path), default=UNIT_DIR,
              show_default=True, help="Where the unit files go.")
@handles_errors
def install_service(config_path: Path, user: str, print_only: bool, unit_dir: Path) -> None:
    """Install systemd units for `callbot run` (callbot.service) and `callbot web` (callbot-web.service)."""
    if user == "root" or user == "0":
        raise click.BadParameter("the bot must not run as root — create a user for it: "
                                 "useradd --system --shell /usr/sbin/nologin callbot", param_hint="--user")
    if not print_only and os.geteuid() != 0:
        raise CallbotError(f"writing to {unit_dir} needs root — run `sudo {Path(sys.argv[0]).name} "
                           f"install-service …`, or add --print to see the units")
    paths = service_paths(config_path)
    account = _account(user)
    if account is None and not print_only:
        raise CallbotError(f"no user {user!r} on this machine — create it first: "
                           f"useradd --system --shell /usr/sbin/nologin {user}")
    group = grp.getgrgid(account.pw_gid).gr_name if account else user
    units = render_units(paths, user, group)
    notes = _user_notes(paths, account) if account else [f"no user {user!r} yet: useradd --system --shell "
                                                         f"/usr/sbin/nologin {user}"]
    if print_only:
        for name, text in units.items():
            click.echo(f"# --- {unit_dir / name}")
            click.echo(text)
        for note in notes:
            err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
        return
    unit_dir.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        (unit_dir / name).write_text(text, encoding="utf-8")
        out.print(f"wrote {unit_dir / name}", highlight=False)
    for folder in _create_writable(paths, account):
        out.print(f"created {folder} (owned by {user})", highlight=False)
    for note in notes:
        out.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    _next_steps()


def _next_steps() -> None:
    lines = [
        f"secrets (optional): put CALLBOT_SIP_PASSWORD=… into {ENV_FILE} (chmod 600, read by systemd)",
        "systemctl daemon-reload",
        "systemctl enable --now callbot",
        "journalctl -u callbot -f                # its log",
        "systemctl enable --now callbot-web      # the review page, once [web] password_hash is set",
    ]
    out.print("next:", highlight=False)
    for line in lines:
        out.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
